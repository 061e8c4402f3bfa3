"""Ahead-of-time compile of the train step (flan.aot) on the 8 fake CPU devices: per-device memory figures
agree with the shard sizes of the state and batch computed independently; flags and targets are checked."""
import importlib.util
import json
import math

import jax
import numpy as np
import pytest

from flan import aot

PLAN = aot.Plan(size="tiny", mesh=(2, 2, 2), batch_size=8, input_length=16, target_length=8, target="cpu-8")


def _shard_bytes(abstract_tree):
  total = 0
  for leaf in jax.tree.leaves(abstract_tree):
    shard_shape = leaf.sharding.shard_shape(leaf.shape)
    total += math.prod(shard_shape) * np.dtype(leaf.dtype).itemsize
  return total


@pytest.fixture(scope="module")
def compiled_tiny():
  compiled, mesh, seconds = aot.compile_train_step(PLAN)
  return compiled, mesh, seconds


def test_memory_is_per_device_and_matches_the_shards(compiled_tiny):
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.models import config as model_config  # pylint: disable=import-outside-toplevel
  from flan.models import t5  # pylint: disable=import-outside-toplevel
  from flan.trainer import optimizer, schedules, state  # pylint: disable=import-outside-toplevel
  compiled, mesh, _ = compiled_tiny
  assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "model": 2}
  report = aot.memory_report(compiled)

  config = model_config.get_config("tiny", scan_layers=True, remat=True, dropout_rate=0.05)
  tx = optimizer.make_optimizer(schedules.make_schedule())
  abstract_state, _ = state.state_shardings(t5.Transformer(config), tx, mesh, partitioning.logical_rules())
  state_bytes = _shard_bytes(abstract_state)
  rows_per_device = PLAN.batch_size // 4  # batch over data x fsdp
  # int32 features: 3 of input length (tokens, segment ids, positions), 5 of target length
  batch_bytes = rows_per_device * 4 * (3 * PLAN.input_length + 5 * PLAN.target_length)
  # jit drops the few arguments the step never reads (placeholder statistics of unfactored parameters)
  assert 0.999 * (state_bytes + batch_bytes) <= report["arguments"] <= state_bytes + batch_bytes
  # the state is donated: its buffers are reused for the new state, so it is not counted twice
  assert 0.999 * state_bytes <= report["aliased"] <= min(state_bytes, report["outputs"])
  assert report["peak"] == report["arguments"] + report["outputs"] - report["aliased"] + report["temporaries"]
  # really sharded: one device holds less than the whole float32 parameter set
  full_params = sum(math.prod(l.shape) * 4 for l in jax.tree.leaves(abstract_state.params))
  assert _shard_bytes(abstract_state.params) < full_params


def test_cli_prints_json(compiled_tiny, monkeypatch, capsys):
  planned = []

  def compile_once(plan):  # the step compiled by the fixture, for the same plan
    planned.append(plan)
    return compiled_tiny

  monkeypatch.setattr(aot, "compile_train_step", compile_once)
  assert aot.main(["--size", "tiny", "--mesh", "data=2,fsdp=2,model=2", "--batch", "8", "--lengths", "16:8",
                   "--target", "cpu-8", "--json"]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["mesh_shape"] == {"data": 2, "fsdp": 2, "model": 2}
  assert result["memory"]["peak"] > result["memory"]["arguments"] > 0
  assert "fits" not in result  # unknown memory size for CPU targets
  assert planned == [PLAN]


@pytest.mark.parametrize("argv,message", [
    (["--size", "tiny", "--mesh", "data=2,pipeline=4"], "pipeline=4"),
    (["--size", "tiny", "--lengths", "2048"], "INPUTS:TARGETS"),
    (["--size", "tiny", "--target", "gpu-8"], "unknown target 'gpu-8'"),
    (["--size", "tiny", "--target", "tpu-v9-8"], "unknown TPU slice 'tpu-v9-8'"),
    (["--size", "huge", "--lengths", "16:8", "--batch", "8"], "unknown model size 'huge'"),
    (["--size", "tiny", "--mesh", "data=3", "--lengths", "16:8", "--batch", "8"], "uses 3 of the 8 devices"),
    (["--size", "tiny", "--mesh", "data=8", "--lengths", "16:8", "--batch", "12"], "batch_size 12"),
])
def test_bad_arguments_are_named(argv, message, capsys):
  assert aot.main(argv) == 2
  assert message in capsys.readouterr().err


def test_tpu_target_needs_libtpu(capsys):
  if importlib.util.find_spec("libtpu") is not None:
    pytest.skip("libtpu is installed here")
  assert aot.main(["--size", "tiny", "--target", "tpu-v4-8", "--batch", "8", "--lengths", "16:8"]) == 2
  assert "libtpu" in capsys.readouterr().err


def test_slice_tables():
  assert aot.target_device_count("tpu-v4-32") == 16 and aot.target_device_count("tpu-v5p-8") == 4
  assert aot.target_device_count("tpu-v5e-16") == 16 and aot.hbm_bytes("tpu-v5e-16") == 16 * aot.GIB
  assert aot.parse_mesh("model=2,data=4") == (4, 1, 2)


def _fake_result(peak_gib=None, oom=None, microbatches=1):
  plan = {"size": "xl", "target": "tpu-v4-8", "mesh": (1, 4, 1), "num_microbatches": microbatches}
  if oom:
    return {"plan": plan, "fits": False, "out_of_memory": oom}
  gib = aot.GIB
  memory = {"arguments": int(2 * gib), "outputs": int(2 * gib), "aliased": int(2 * gib),
            "temporaries": int((peak_gib - 2) * gib), "code": 0, "peak": int(peak_gib * gib)}
  return {"plan": plan, "memory": memory, "fits": peak_gib <= 32, "device_memory": 32 * gib}


def test_table_row_reports_fit_after_microbatches():
  from flan import aot_table  # pylint: disable=import-outside-toplevel
  oom = ("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for HLO temporaries "
         "(45.77G) exceeds available HBM (30.75G).")
  fits = _fake_result(peak_gib=20.5, microbatches=4)
  row = {"size": "xl", "slice": "v4-8", "mesh": "data=1,fsdp=4,model=1", "preset": "gin/hardware/tpu_v4_8.gin",
         "tried": [(1, "save_dots", _fake_result(oom=oom)), (1, "full", _fake_result(peak_gib=33.0)),
                   (4, "save_dots", fits)], "flops": {"ratio": 1.31}, "flops_remat": "save_dots"}
  line = aot_table.format_row(row)
  assert line.startswith("| xl | v4-8 (4 chips x 32 GiB) | `gin/hardware/tpu_v4_8.gin`")
  assert "1 mb, save_dots: out of memory (temporaries alone 45.77G > 30.75G usable)" in line
  assert "1 mb, full: 33.0 GiB (args 2.0, temp 31.0), 1.0 GiB over" in line
  assert "4 mb, save_dots: 20.5 GiB" in line
  assert line.endswith("| yes, remat save_dots, 4 microbatches | 1.31 (remat save_dots) |")
  row["tried"] = [(1, "full", _fake_result(oom=oom)), (4, "full", _fake_result(oom=oom, microbatches=4))]
  del row["flops"]
  assert aot_table.format_row(row).endswith("| no | - |")


def test_table_meshes_are_the_presets():
  from flan import aot_table  # pylint: disable=import-outside-toplevel
  repo = __import__("pathlib").Path(__file__).resolve().parents[1]
  for slice_name, (mesh, preset) in aot_table.PRESETS.items():
    bindings = {}
    for line in (repo / preset).read_text().splitlines():
      if line.startswith("train.mesh_"):
        name, value = (part.strip() for part in line[len("train.mesh_"):].split("="))
        bindings[name] = int(value)
    assert aot.parse_mesh(mesh) == (bindings["data"], bindings["fsdp"], bindings["model"]), slice_name
    assert aot.target_device_count(f"tpu-{slice_name}") == bindings["data"] * bindings["fsdp"] * bindings["model"]


def test_microbatches_must_split_over_the_data_axes(capsys):
  assert aot.main(["--size", "tiny", "--mesh", "data=8", "--batch", "16", "--lengths", "16:8",
                   "--microbatches", "4"]) == 2
  assert "microbatch 4 with num_microbatches=4" in capsys.readouterr().err


def test_flops_extrapolated_from_shallow_compiles_equal_the_fully_unrolled_count():
  from flan.models import config as model_config  # pylint: disable=import-outside-toplevel
  from flan.trainer.run_config import RunConfig  # pylint: disable=import-outside-toplevel
  config = model_config.get_config("tiny", num_encoder_layers=4, num_decoder_layers=2, remat="none",
                                   dropout_rate=0.0)  # the cheapest step to compile: 4 compiles here
  run = RunConfig(model_config=config, num_steps=1, batch_size=4, feature_lengths={"inputs": 16, "targets": 8},
                  pack=False, mesh_data=1, mesh_fsdp=1, mesh_model=1, num_devices=1, process_count=1)
  report = aot.flops_report(run)
  assert "extrapolated" in report["method"]
  depths = {"num_encoder_layers": 4, "num_decoder_layers": 2}
  direct = aot._unrolled_flops(run, depths)  # pylint: disable=protected-access
  assert report["xla_flops"] == pytest.approx(direct, rel=1e-5)  # fusion choices move a few hundred FLOPs
  assert report["ratio"] == pytest.approx(direct / report["model_flops"], rel=1e-5)
