"""Ahead-of-time compile of the train step for a model size, mesh and batch, and its per-device memory.

  python -m flan.aot --size xl --mesh data=1,fsdp=16,model=1 --batch 64 --lengths 2048:512 --target tpu-v4-32
  python -m flan.aot --size tiny --mesh data=2,fsdp=2,model=2 --batch 8 --lengths 32:16 --target cpu-8
  python -m flan.aot --gin_file=runs/finetune.gin --gin_file=flan_t5/xl.gin --target tpu-v4-8   # a run's step

The step is the trainer's own (flan.trainer.program.build_train_program) for the same run configuration, so
the figures describe the program flan-train runs.

Nothing is allocated: the train state and batch are shapes only (jax.ShapeDtypeStruct with shardings), the
step is lowered and compiled for the target's devices, and `compiled.memory_analysis()` gives the bytes one
device needs. Targets:
  tpu-<slice>  (tpu-v4-8, tpu-v4-32, tpu-v5e-16, tpu-v5p-8, ...): compiled by the real TPU compiler for a
               TPU topology description, on any machine where libtpu is installed (`pip install
               'jax[tpu]'`), no TPU needed. These numbers are what the TPU would use.
  cpu-<N>      N fake CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N, set here before jax
               starts). XLA:CPU plans memory differently from TPU/GPU compilers: a rough guide only.
"""
import argparse
import dataclasses
import glob
import json
import math
import os
import sys
import time
from typing import Optional

# Cloud TPU slices by name: (topology for the TPU compiler, chip configuration, chips per host, HBM per chip
# in GiB). HBM sizes: Cloud TPU system architecture pages (v4 32 GiB, v5e 16 GiB, v5p 95 GiB).
TPU_SLICES = {
    "v4-8": ("v4:2x2x1", "megacore", (2, 2, 1), 32),
    "v4-16": ("v4:2x2x2", "megacore", (2, 2, 1), 32),
    "v4-32": ("v4:2x2x4", "megacore", (2, 2, 1), 32),
    "v4-64": ("v4:2x4x4", "megacore", (2, 2, 1), 32),
    "v4-128": ("v4:4x4x4", "megacore", (2, 2, 1), 32),
    "v5e-8": ("v5e:2x4", "default", (2, 4, 1), 16),
    "v5e-16": ("v5e:4x4", "default", (2, 2, 1), 16),
    "v5e-32": ("v5e:4x8", "default", (2, 2, 1), 16),
    "v5e-64": ("v5e:8x8", "default", (2, 2, 1), 16),
    "v5p-8": ("v5p:2x2x1", "megacore", (2, 2, 1), 95),
    "v5p-16": ("v5p:2x2x2", "megacore", (2, 2, 1), 95),
    "v5p-32": ("v5p:2x2x4", "megacore", (2, 2, 1), 95),
}
GIB = 1024 ** 3


@dataclasses.dataclass(frozen=True)
class Plan:
  """One train step to compile: model size, mesh, global batch and lengths."""
  size: str
  mesh: tuple  # (data, fsdp, model); one may be -1
  batch_size: int
  input_length: int
  target_length: int
  target: str = "cpu-8"
  fsdp_embed: bool = False
  num_microbatches: int = 1
  scan_layers: bool = True
  remat: object = "full"  # a flan.models.config.REMAT_POLICIES name (True / False: "full" / "none")
  dropout_rate: float = 0.05
  packed: bool = True
  attention_dropout: Optional[float] = None  # None: dropout_rate (T5X); 0 lets the fused attention kernels run


def parse_mesh(text: str) -> tuple:
  """'data=2,fsdp=4,model=1' (any order; missing axes are 1) -> (2, 4, 1)."""
  sizes = {"data": 1, "fsdp": 1, "model": 1}
  for item in text.split(","):
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or name not in sizes:
      raise ValueError(f"--mesh {text!r}: expected data=N,fsdp=N,model=N, got {item!r}")
    try:
      sizes[name] = int(value)
    except ValueError:
      raise ValueError(f"--mesh {text!r}: {name}={value!r} is not an integer") from None
  return (sizes["data"], sizes["fsdp"], sizes["model"])


def parse_lengths(text: str) -> tuple:
  """'2048:512' -> (2048, 512)."""
  parts = text.split(":")
  if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
    raise ValueError(f"--lengths {text!r}: expected INPUTS:TARGETS, e.g. 2048:512")
  return int(parts[0]), int(parts[1])


def target_device_count(target: str) -> int:
  if target.startswith("tpu-"):
    slice_name = target[len("tpu-"):]
    if slice_name not in TPU_SLICES:
      raise ValueError(f"unknown TPU slice {target!r}; known: {', '.join('tpu-' + s for s in TPU_SLICES)}")
    topology, _, _, _ = TPU_SLICES[slice_name]
    return math.prod(int(d) for d in topology.split(":")[1].split("x"))
  if target.startswith("cpu-") and target[4:].isdigit() and int(target[4:]) > 0:
    return int(target[4:])
  raise ValueError(f"unknown target {target!r}: use cpu-N or tpu-SLICE "
                   f"({', '.join('tpu-' + s for s in TPU_SLICES)})")


def hbm_bytes(target: str):
  """Memory of one device of the target, or None where unknown (CPU)."""
  if target.startswith("tpu-"):
    return TPU_SLICES[target[len("tpu-"):]][3] * GIB
  return None


def prepare_environment(target: str) -> None:
  """Sets what jax reads at start-up for the target; call before jax is first imported."""
  if "jax" in sys.modules:
    return
  if target.startswith("cpu-"):
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    os.environ["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={target[4:]}"])
    os.environ["JAX_PLATFORMS"] = "cpu"
  elif not (glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")):
    # No TPU here: libtpu only needs to describe a topology. These keep it from probing for chips.
    os.environ.setdefault("TPU_ACCELERATOR_TYPE", "v4-8")
    os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # no chips to guard: compiles may run side by side
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def target_devices(target: str) -> list:
  import jax  # pylint: disable=import-outside-toplevel
  count = target_device_count(target)
  if target.startswith("cpu-"):
    devices = jax.devices("cpu")
    if len(devices) < count:
      raise RuntimeError(f"target {target} needs {count} CPU devices but jax has {len(devices)}: run in a "
                         f"fresh process (python -m flan.aot sets XLA_FLAGS before jax starts)")
    return devices[:count]
  try:
    from jax.experimental import topologies  # pylint: disable=import-outside-toplevel
    topology, chip_config, host_bounds, _ = TPU_SLICES[target[len("tpu-"):]]
    description = topologies.get_topology_desc(
        topology_name=topology, platform="tpu", chip_config_name=chip_config,
        chips_per_host_bounds=host_bounds, num_slices=1)
  except Exception as e:  # pylint: disable=broad-except
    raise RuntimeError(f"cannot describe TPU topology for {target} ({e}); the TPU compiler needs libtpu: "
                       "pip install 'jax[tpu]' (no TPU is needed)") from e
  devices = list(description.devices)
  if len(devices) != count:
    raise RuntimeError(f"topology {topology} has {len(devices)} devices, expected {count}")
  return devices


def run_config_for_plan(plan: Plan, num_devices: int):
  """The run configuration a plan describes (other settings: gin's, else RunConfig's defaults)."""
  from flan.models import config as model_config  # pylint: disable=import-outside-toplevel
  from flan.trainer.run_config import RunConfig  # pylint: disable=import-outside-toplevel
  config = model_config.get_config(plan.size, scan_layers=plan.scan_layers, remat=plan.remat,
                                   dropout_rate=plan.dropout_rate, attention_dropout=plan.attention_dropout)
  data, fsdp, model_axis = plan.mesh
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  shape = partitioning.resolve_mesh_shape(data, fsdp, model_axis, num_devices)
  if math.prod(shape.values()) != num_devices:
    raise ValueError(f"mesh {shape} uses {math.prod(shape.values())} of the {num_devices} devices of {plan.target}")
  return RunConfig(model_config=config, num_steps=1, batch_size=plan.batch_size,
                   feature_lengths={"inputs": plan.input_length, "targets": plan.target_length},
                   pack=plan.packed, mesh_data=data, mesh_fsdp=fsdp, mesh_model=model_axis,
                   fsdp_embed=plan.fsdp_embed, num_microbatches=plan.num_microbatches, num_devices=num_devices,
                   process_count=1)


def lower_train_step(run, devices):
  """Lowers the trainer's own train step (flan.trainer.program) for `run` on `devices`, with the state and
  batch as shapes only; returns (lowered, mesh)."""
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.trainer import program as program_lib  # pylint: disable=import-outside-toplevel
  mesh = partitioning.make_mesh(**run.mesh_shape, devices=devices)
  if mesh.size != len(devices):
    raise ValueError(f"mesh {dict(mesh.shape)} uses {mesh.size} of the {len(devices)} devices of the target")
  program = program_lib.build_train_program(run, mesh)
  return program.lower(program.abstract_state, program.abstract_batch()), mesh


def compile_train_step(plan: Plan):
  """Lowers and compiles the trainer's train step for `plan`; returns (compiled, mesh, seconds)."""
  devices = target_devices(plan.target)
  run = run_config_for_plan(plan, len(devices))
  started = time.perf_counter()
  lowered, mesh = lower_train_step(run, devices)
  compiled = lowered.compile()
  return compiled, mesh, time.perf_counter() - started


def memory_report(compiled) -> dict:
  """Bytes per device from the compiled program; `peak` = arguments + outputs - aliased + temporaries."""
  stats = compiled.memory_analysis()
  if stats is None:
    raise RuntimeError("this backend gives no memory analysis for compiled programs")
  report = {
      "arguments": int(stats.argument_size_in_bytes),
      "outputs": int(stats.output_size_in_bytes),
      "aliased": int(stats.alias_size_in_bytes),
      "temporaries": int(stats.temp_size_in_bytes),
      "code": int(stats.generated_code_size_in_bytes),
  }
  report["peak"] = report["arguments"] + report["outputs"] - report["aliased"] + report["temporaries"]
  return report


def _out_of_memory(error: Exception):
  """The TPU compiler's own verdict when a program cannot fit (it refuses to compile it), else None."""
  text = str(error)
  if "RESOURCE_EXHAUSTED" not in text and "Ran out of memory" not in text:
    return None
  return " ".join(text.split())[:400]


def run_plan(plan: Plan, with_flops: bool = False) -> dict:
  """Memory of the plan's step on its target; with_flops adds `flops_report` of the same run."""
  prepare_environment(plan.target)
  result = _compile_and_report(lambda: compile_train_step(plan), dataclasses.asdict(plan), plan.target)
  if with_flops:
    result["flops"] = flops_report(run_config_for_plan(plan, target_device_count(plan.target)))
  return result


def gin_run_config(gin_files, bindings, search_paths, num_devices):
  """The run configuration that flan-train builds from these gin files and bindings, for `num_devices`."""
  from flan import gin_args  # pylint: disable=import-outside-toplevel
  # pylint: disable=import-outside-toplevel,unused-import
  import flan.models.config  # registers get_config
  from flan.trainer import loop, optimizer, schedules  # register the train / optimizer / schedule bindings
  from flan.trainer.run_config import RunConfig
  gin_args.parse_gin(gin_files, bindings, list(search_paths) + gin_args.default_search_paths())
  return RunConfig(num_devices=num_devices, process_count=1)


def run_gin(gin_files, bindings, search_paths, target) -> dict:
  """Compiles the train step flan-train would run for these gin files, for `target`."""
  prepare_environment(target)
  devices = target_devices(target)
  run = gin_run_config(gin_files, bindings, search_paths, len(devices))
  config = run.model_config
  plan = {"size": "gin: " + " ".join(list(gin_files) + list(bindings)), "target": target,
          "mesh": tuple(run.mesh_shape[a] for a in ("data", "fsdp", "model")), "batch_size": run.batch_size,
          "input_length": run.feature_lengths["inputs"], "target_length": run.feature_lengths["targets"],
          "fsdp_embed": run.fsdp_embed, "num_microbatches": run.num_microbatches,
          "scan_layers": config.scan_layers, "remat": config.remat, "dropout_rate": config.dropout_rate,
          "packed": run.pack}

  def compile_step():
    started = time.perf_counter()
    lowered, mesh = lower_train_step(run, devices)
    return lowered.compile(), mesh, time.perf_counter() - started
  return _compile_and_report(compile_step, plan, target)


LAYER_FIELDS = ("num_encoder_layers", "num_decoder_layers", "num_layers")


def flops_report(run) -> dict:
  """XLA's FLOPs of the run's train step beside the model's analytic FLOPs (3x the forward matmuls).

  XLA's cost analysis counts a loop body once, so the measurement compiles the step on one CPU device with
  its loops unrolled: layers unscanned and one microbatch (k microbatches do the same arithmetic on the same
  global batch; nothing is allocated). Unrolling every layer of a big model takes long to compile, and the
  step's FLOPs are linear in each stack's depth (all layers of a stack are the same program; the scanned
  model requires it), so it is compiled with 2 layers per stack and with one more layer in each stack in
  turn, and extrapolated to the configured depths. Remat's recomputation is counted: the ratio shows it and
  any other work beyond the model's own.
  """
  from flan.trainer import flops as flops_lib  # pylint: disable=import-outside-toplevel
  config = run.model_config
  depths = {f: getattr(config, f) for f in LAYER_FIELDS if hasattr(config, f)}
  if max(depths.values()) <= 3:
    measured = _unrolled_flops(run, depths)
    method = "layers unrolled"
  else:
    base = {f: 2 for f in depths}
    base_flops = _unrolled_flops(run, base)
    measured = base_flops
    for field, depth in depths.items():
      per_layer = _unrolled_flops(run, {**base, field: 3}) - base_flops
      measured += (depth - 2) * per_layer
    method = (f"layers unrolled at 2 and 3 per stack ({len(depths) + 1} compiles), extrapolated linearly to "
              + ", ".join(f"{f}={d}" for f, d in depths.items()))
  lengths = run.feature_lengths
  model = flops_lib.train_step_flops(config, run.batch_size, lengths["inputs"], lengths["targets"])
  return {"xla_flops": measured, "model_flops": model, "ratio": measured / model,
          "method": f"XLA:CPU cost analysis, 1 microbatch, 1 device, {method}"}


def _unrolled_flops(run, depths: dict) -> float:
  """XLA's FLOPs count of the run's step with layers unrolled at these depths, on one CPU device."""
  import jax  # pylint: disable=import-outside-toplevel
  config = dataclasses.replace(run.model_config, scan_layers=False, **depths)
  unrolled = run.replace(model_config=config, num_microbatches=1, mesh_data=1, mesh_fsdp=1, mesh_model=1,
                         num_devices=1)
  lowered, _ = lower_train_step(unrolled, jax.devices("cpu")[:1])
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def _compile_and_report(compile_step, plan: dict, target: str) -> dict:
  started = time.perf_counter()
  try:
    compiled, mesh, seconds = compile_step()
  except Exception as error:  # pylint: disable=broad-except
    verdict = _out_of_memory(error)
    if verdict is None:
      raise
    return {"plan": plan, "compile_seconds": round(time.perf_counter() - started, 1),
            "fits": False, "out_of_memory": verdict, "device_memory": hbm_bytes(target)}
  result = {"plan": plan, "mesh_shape": dict(mesh.shape),
            "compile_seconds": round(seconds, 1), "memory": memory_report(compiled)}
  hbm = hbm_bytes(target)
  if hbm is not None:
    result["device_memory"] = hbm
    result["fits"] = result["memory"]["peak"] <= hbm
  return result


def format_result(result: dict) -> str:
  plan = result["plan"]
  mesh = ",".join(f"{k}={v}" for k, v in zip(("data", "fsdp", "model"), plan["mesh"]))
  lines = [f"{plan['size']} on {plan['target']} mesh {mesh}, batch {plan['batch_size']}, lengths "
           f"{plan['input_length']}:{plan['target_length']}, microbatches {plan['num_microbatches']}, "
           f"remat {plan['remat']}, fsdp_embed={plan['fsdp_embed']}"
           + (f" (compiled in {result['compile_seconds']} s)" if "compile_seconds" in result else "")]
  if "flops" in result:
    flops = result["flops"]
    lines.append(f"  FLOPs per step: XLA {flops['xla_flops']:.4g}, model {flops['model_flops']:.4g}, ratio "
                 f"{flops['ratio']:.2f} ({flops['method']})")
  if "memory" not in result and "out_of_memory" not in result:
    return "\n".join(lines)
  if "out_of_memory" in result:
    return "\n".join(lines + [f"  does NOT fit: the compiler says {result['out_of_memory']}"])
  memory = result["memory"]
  for name in ("arguments", "outputs", "aliased", "temporaries", "code", "peak"):
    lines.append(f"  {name:12s} {memory[name] / GIB:9.3f} GiB per device")
  if "fits" in result:
    verdict = "fits" if result["fits"] else "does NOT fit"
    lines.append(f"  {verdict} in {result['device_memory'] / GIB:.0f} GiB of device memory")
  return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m flan.aot", description=__doc__.split("\n\n", 1)[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--size", help="model size: tiny, small, base, large, xl, xxl (or give gin files: "
                      "--gin_file=F --gin.KEY=VALUE, as for flan-train)")
  parser.add_argument("--mesh", default="data=-1", help="data=N,fsdp=N,model=N (one may be -1)")
  parser.add_argument("--batch", type=int, default=64, help="global batch size (rows)")
  parser.add_argument("--lengths", default="2048:512", help="INPUTS:TARGETS lengths")
  parser.add_argument("--target", default="cpu-8", help="cpu-N or tpu-SLICE (e.g. tpu-v4-32)")
  parser.add_argument("--fsdp-embed", action="store_true", help="shard the embed dimension over fsdp")
  parser.add_argument("--microbatches", type=int, default=1, help="gradient accumulation steps")
  parser.add_argument("--no-scan", action="store_true", help="unrolled layers (slower to compile)")
  parser.add_argument("--no-remat", action="store_true", help="keep all activations (same as --remat none)")
  parser.add_argument("--remat", default="full",
                      help="rematerialization policy per layer: none, full, save_dots, save_dense, save_qkv, "
                           "offload_dense (flan/models/remat.py)")
  parser.add_argument("--attention-dropout", type=float, default=None,
                      help="dropout on attention weights (default: the dropout rate, as T5X); 0 enables the "
                           "fused attention kernels")
  parser.add_argument("--flops", action="store_true",
                      help="also the step's FLOPs counted by XLA beside the model's analytic FLOPs (one more "
                           "compile, with layers unrolled, on the CPU)")
  parser.add_argument("--flops-only", action="store_true",
                      help="only the FLOPs report (no compile for the target; the mesh and target do not change "
                           "the step's arithmetic)")
  parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
  return parser


def _with_unlimited_stack(argv) -> None:
  """Re-executes this command with an unlimited stack: the TPU compiler's threads recurse deeply on big
  models (a stack overflow in libtpu otherwise). Their stack size is fixed when the process starts."""
  import resource  # pylint: disable=import-outside-toplevel
  soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
  if soft == resource.RLIM_INFINITY or os.environ.get("FLAN_AOT_STACK_RAISED"):
    return
  if hard != resource.RLIM_INFINITY:
    print(f"warning: stack limit {hard} bytes cannot be raised; large TPU compiles may crash "
          "(run `ulimit -s unlimited` first)", file=sys.stderr)
    return
  resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, hard))
  os.environ["FLAN_AOT_STACK_RAISED"] = "1"
  os.execv(sys.executable, [sys.executable, "-m", "flan.aot", *argv])


def main(argv=None) -> int:
  from flan import gin_args  # pylint: disable=import-outside-toplevel
  raw = sys.argv[1:] if argv is None else list(argv)
  try:
    gin_files, bindings, search_paths, rest = gin_args.split_gin_args(raw)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  args = build_parser().parse_args(rest)
  if args.target.startswith("tpu-") and argv is None and "jax" not in sys.modules:
    _with_unlimited_stack(sys.argv[1:])
  try:
    target_device_count(args.target)
    if gin_files or bindings:
      result = run_gin(gin_files, bindings, search_paths, args.target)
    elif not args.size:
      raise ValueError("give --size (with --mesh, --batch, --lengths, ...) or the run's gin files")
    elif args.flops_only:
      plan = _plan_from_args(args)
      run = run_config_for_plan(plan, target_device_count(plan.target))
      result = {"plan": dataclasses.asdict(plan), "flops": flops_report(run)}
    else:
      result = run_plan(_plan_from_args(args), with_flops=args.flops)
  except (ValueError, RuntimeError) as e:
    from flan import errors  # pylint: disable=import-outside-toplevel
    print(f"error: {errors.message(e)}", file=sys.stderr)
    return 2
  print(json.dumps(result) if args.json else format_result(result))
  return 0


def _plan_from_args(args) -> Plan:
  input_length, target_length = parse_lengths(args.lengths)
  return Plan(size=args.size, mesh=parse_mesh(args.mesh), batch_size=args.batch, input_length=input_length,
              target_length=target_length, target=args.target, fsdp_embed=args.fsdp_embed,
              num_microbatches=args.microbatches, scan_layers=not args.no_scan,
              remat="none" if args.no_remat else args.remat, attention_dropout=args.attention_dropout)


if __name__ == "__main__":
  sys.exit(main())
