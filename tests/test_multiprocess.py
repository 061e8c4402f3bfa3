"""Multi-host training without a cluster: 2 processes x 4 CPU devices on localhost, joined by
jax.distributed (local coordinator, gloo CPU collectives), train on the global 2x2x2 mesh. Their losses equal
a 1-process 8-device run's, the checkpoint is written once, and a 1-process train() resumes it on another
mesh, continuing with the uninterrupted run's losses. A data position that cannot be re-sharded stops the
resume with a clear error (or restarts the stream when the run allows it).
Also: how flan.distributed reads the environment (explicit variables, SLURM, TPU pods)."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from flan import distributed
from flan.trainer import data_source
from flan.trainer import data_resume
from flan.trainer.synthetic import SyntheticBatches

REPO = pathlib.Path(__file__).resolve().parents[1]
WORKER_TIMEOUT_S = 240


# --- flan.distributed.detect -------------------------------------------------------------------------


def test_single_process_by_default():
  assert distributed.detect({}, on_tpu_vm=False) == distributed.ProcessGroup("single")
  assert not distributed.detect({}, on_tpu_vm=False).is_multi_process


def test_explicit_environment():
  env = {"FLAN_COORDINATOR_ADDRESS": "10.0.0.2:1234", "FLAN_NUM_PROCESSES": "4", "FLAN_PROCESS_ID": "3",
         "FLAN_LOCAL_DEVICE_IDS": "0,1"}
  group = distributed.detect(env, on_tpu_vm=False)
  assert group == distributed.ProcessGroup("explicit", "10.0.0.2:1234", 4, 3, (0, 1))
  one = dict(env, FLAN_NUM_PROCESSES="1", FLAN_PROCESS_ID="0")
  assert distributed.detect(one, on_tpu_vm=False).method == "single"


@pytest.mark.parametrize("env,message", [
    ({"FLAN_COORDINATOR_ADDRESS": "h:1"}, "FLAN_NUM_PROCESSES, FLAN_PROCESS_ID"),
    ({"FLAN_COORDINATOR_ADDRESS": "h", "FLAN_NUM_PROCESSES": "2", "FLAN_PROCESS_ID": "0"}, "host:port"),
    ({"FLAN_COORDINATOR_ADDRESS": "h:1", "FLAN_NUM_PROCESSES": "two", "FLAN_PROCESS_ID": "0"},
     "FLAN_NUM_PROCESSES='two'"),
    ({"FLAN_COORDINATOR_ADDRESS": "h:1", "FLAN_NUM_PROCESSES": "2", "FLAN_PROCESS_ID": "2"}, "FLAN_PROCESS_ID=2"),
    ({"FLAN_DISTRIBUTED": "yes"}, "FLAN_DISTRIBUTED='yes'"),
])
def test_bad_environment_is_named(env, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(")):
    distributed.detect(env, on_tpu_vm=False)


def test_slurm_environment():
  env = {"SLURM_JOB_ID": "12345", "SLURM_NTASKS": "4", "SLURM_PROCID": "2",
         "SLURM_STEP_NODELIST": "gpu[07-08,11],login1"}
  group = distributed.detect(env, on_tpu_vm=False)
  assert group == distributed.ProcessGroup("slurm", f"gpu07:{61440 + 12345 % 4096}", 4, 2, None)
  # what launch/gpu_slurm.sbatch exports wins over the node list
  env.update(FLAN_COORDINATOR_ADDRESS="gpu11:7000", FLAN_NUM_PROCESSES="4")
  assert distributed.detect(env, on_tpu_vm=False).coordinator_address == "gpu11:7000"
  with pytest.raises(ValueError, match="SLURM_NTASKS=4"):
    distributed.detect(dict(env, FLAN_NUM_PROCESSES="8"), on_tpu_vm=False)
  one_task = {"SLURM_JOB_ID": "1", "SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_STEP_NODELIST": "n1"}
  assert distributed.detect(one_task, on_tpu_vm=False).method == "single"


def test_tpu_pod_and_forcing():
  assert distributed.detect({}, on_tpu_vm=True).method == "tpu_pod"
  assert distributed.detect({"FLAN_DISTRIBUTED": "off"}, on_tpu_vm=True).method == "single"
  assert distributed.detect({"FLAN_DISTRIBUTED": "tpu_pod"}, on_tpu_vm=False).method == "tpu_pod"


def test_expand_hostlist():
  assert distributed.expand_hostlist("gpu[07-09,11],login1") == ["gpu07", "gpu08", "gpu09", "gpu11", "login1"]
  assert distributed.expand_hostlist("n1") == ["n1"]
  assert distributed.expand_hostlist("rack[1-2]-n[1-2]") == ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]
  with pytest.raises(ValueError, match="gpu\\[07-"):
    distributed.expand_hostlist("gpu[07-")


# --- two real processes ------------------------------------------------------------------------------


def _free_port():
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run_processes(model_dir, num_steps, num_processes, devices_per_process):
  """Starts the workers, waits for all (bounded), kills every one on failure or timeout."""
  port = _free_port()
  env_base = {k: v for k, v in os.environ.items() if not k.startswith(("FLAN_", "SLURM_"))}
  env_base.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
                  XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}")
  procs, logs = [], []
  deadline = time.monotonic() + WORKER_TIMEOUT_S
  try:
    for index in range(num_processes):
      env = dict(env_base, FLAN_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", FLAN_NUM_PROCESSES=str(num_processes),
                 FLAN_PROCESS_ID=str(index))
      logs.append(pathlib.Path(f"{model_dir}-process{index}.log"))
      with open(logs[-1], "w", encoding="utf-8") as log:  # files, not pipes: no process blocks on output
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.multiprocess_worker", "--model_dir", str(model_dir),
             "--num_steps", str(num_steps)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    for proc in procs:
      proc.wait(timeout=max(1.0, deadline - time.monotonic()))
  except subprocess.TimeoutExpired:
    tails = "\n".join(f"--- process {i}:\n{log.read_text(encoding='utf-8')[-3000:]}" for i, log in enumerate(logs))
    pytest.fail(f"the {num_processes} processes did not finish in {WORKER_TIMEOUT_S} s:\n{tails}")
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  outputs = [log.read_text(encoding="utf-8") for log in logs]
  results = []
  for index, (proc, output) in enumerate(zip(procs, outputs)):
    assert proc.returncode == 0, f"process {index} exited {proc.returncode}:\n{output[-4000:]}"
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, output[-4000:]
    results.append(json.loads(lines[0][len("RESULT "):]))
  return results


def _train_here(model_dir, num_steps, mesh, **overrides):
  from flan.trainer import loop  # pylint: disable=import-outside-toplevel
  import multiprocess_worker  # pylint: disable=import-outside-toplevel
  kwargs = multiprocess_worker.train_kwargs(str(model_dir), num_steps, *mesh,
                                            checkpoint_every=overrides.pop("checkpoint_every", None))
  return loop.train(**dict(kwargs, **overrides))


class _PerShardPositionsOnly:
  """Wraps the train iterator like flan.data's BatchIterator: a state per shard, no reshard_state."""

  seeds = []

  def __init__(self, inner, seed):
    self.inner = inner
    _PerShardPositionsOnly.seeds.append(seed)

  def __next__(self):
    return next(self.inner)

  def get_state(self):
    return self.inner.get_state()

  def set_state(self, state):
    self.inner.set_state(state)


def _without_reshard(monkeypatch):
  make_iterator = data_source.DataSource.iterator
  _PerShardPositionsOnly.seeds = []
  monkeypatch.setattr(data_source.DataSource, "iterator",
                      lambda *a, **k: _PerShardPositionsOnly(make_iterator(*a, **k), k["seed"]))


def _step_dirs(model_dir):
  return sorted(p.name for p in (model_dir / "checkpoints").iterdir() if not p.name.startswith("."))


def _restore_state(model_dir, step, mesh_shape):
  """The TrainState of `step` in model_dir, restored with this process's devices on `mesh_shape`."""
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.models import t5  # pylint: disable=import-outside-toplevel
  from flan.trainer import checkpoints, optimizer, schedules, state  # pylint: disable=import-outside-toplevel
  import multiprocess_worker  # pylint: disable=import-outside-toplevel
  kwargs = multiprocess_worker.train_kwargs(str(model_dir), step, *mesh_shape)
  mesh = partitioning.make_mesh(*mesh_shape)
  rules = partitioning.logical_rules(fsdp_embed=kwargs["fsdp_embed"])
  model = t5.Transformer(kwargs["model_config"])
  tx = optimizer.make_optimizer(schedules.make_schedule())
  abstract, _ = state.state_shardings(model, tx, mesh, rules)
  checkpointer = checkpoints.Checkpointer(str(model_dir), use_async=False)
  try:
    restored = checkpointer.manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(abstract.params),
        train=ocp.args.StandardRestore({"step": abstract.step, "opt_state": abstract.opt_state})))
  finally:
    checkpointer.close()
  return abstract.replace(step=restored.train["step"], params=restored.params,
                          opt_state=restored.train["opt_state"])


def _checkpoint_params(model_dir):
  from flan.trainer import checkpoints  # pylint: disable=import-outside-toplevel
  _, params = checkpoints.load_params_for_inference(str(model_dir))
  return params


def test_two_processes_train_like_one_then_one_process_resumes(tmp_path, monkeypatch):
  assert jax.device_count() == 8 and jax.process_count() == 1
  steps, more_steps = 3, 5
  results = _run_processes(tmp_path / "two", steps, num_processes=2, devices_per_process=4)
  for index, result in enumerate(results):
    assert result["method"] == "explicit" and result["process_index"] == index
    assert result["process_count"] == 2 and result["local_devices"] == 4 and result["global_devices"] == 8
    assert result["step"] == steps and result["checkpoint_steps"] == [steps]
  two_losses = np.array(results[0]["losses"])
  np.testing.assert_array_equal(two_losses, results[1]["losses"])  # every process sees the global loss

  # uninterrupted: 5 steps in 1 process, checkpointed at step 3 too
  one = _train_here(tmp_path / "one", more_steps, (2, 2, 2), checkpoint_every=steps)
  one_losses = np.array([record["loss"] for record in one["history"]])
  assert len(one_losses) == more_steps
  np.testing.assert_allclose(two_losses, one_losses[:steps], rtol=1e-6, atol=1e-6)

  # the checkpoint was written once (one step directory, written by both processes together)
  assert _step_dirs(tmp_path / "two") == [str(steps)]

  # this 1-process run restores the 2-process checkpoint onto another mesh (data=8): the whole train state
  # (params and Adafactor statistics) equals the 1-process run's, and the result is laid out on the new mesh
  two_state = _restore_state(tmp_path / "two", steps, (8, 1, 1))
  one_state = _restore_state(tmp_path / "one", steps, (8, 1, 1))
  assert int(two_state.step) == steps
  leaves = jax.tree_util.tree_leaves_with_path((two_state.params, two_state.opt_state))
  assert len(leaves) == len(jax.tree.leaves((one_state.params, one_state.opt_state))) > 20
  for (path, a), b in zip(leaves, jax.tree.leaves((one_state.params, one_state.opt_state))):
    assert a.sharding.mesh.shape["data"] == 8
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
  embedding = two_state.params["token_embedder"]["embedding"]
  np.testing.assert_array_equal(np.asarray(embedding), _checkpoint_params(tmp_path / "two")["token_embedder"][
      "embedding"])

  # an iterator that cannot re-shard its per-process positions: a clear error, the checkpoint left in place
  _without_reshard(monkeypatch)
  with pytest.raises(data_resume.TopologyChangeError, match=(
      r"step 3 .* written by 2 processes, this run has 1; _PerShardPositionsOnly cannot map .*"
      r"train\.data_restart_on_topology_change=True")):
    _train_here(tmp_path / "two", more_steps, (8, 1, 1))
  assert _step_dirs(tmp_path / "two") == [str(steps)] and not (tmp_path / "unreadable_checkpoints").exists()
  # ... unless the run accepts a restarted stream: warned, and the new stream has a fresh seed (num_steps = 3
  # makes this run stop right after the restore)
  _PerShardPositionsOnly.seeds.clear()
  with pytest.warns(RuntimeWarning, match="2 processes, this run has 1.*restarts from a freshly seeded"):
    restarted = _train_here(tmp_path / "two", steps, (8, 1, 1), data_restart_on_topology_change=True)
  assert restarted["step"] == steps and _PerShardPositionsOnly.seeds == [0, data_resume.restart_seed(0, steps)]
  assert _PerShardPositionsOnly.seeds[1] != 0
  monkeypatch.undo()

  # the trainer resumes the 2-process checkpoint in 1 process on a data=8 mesh: the synthetic stream continues
  # at global batch 3, and steps 4 and 5 have the uninterrupted run's losses
  resumed = _train_here(tmp_path / "two", more_steps, (8, 1, 1))
  assert [record["step"] for record in resumed["history"]] == [4, 5]
  assert resumed["step"] == more_steps and resumed["checkpoint_steps"] == [more_steps]
  np.testing.assert_allclose([record["loss"] for record in resumed["history"]], one_losses[steps:],
                             rtol=1e-6, atol=1e-6)


# --- the data position across topologies -------------------------------------------------------------


def _batch_iterator_states(num_shards):
  """States shaped like flan.data's BatchIterator.get_state(): one per shard, positions within the shard."""
  return [{"format": "flan.batch_iterator.v1", "config": {"name": "task", "seed": 0, "shard_index": index,
                                                          "num_shards": num_shards},
           "position": {"examples_before_chunk": 40 + index, "rows_taken_from_chunk": 2}, "counters": {}}
          for index in range(num_shards)]


def test_per_shard_positions_need_the_same_process_count():
  class PerShard:
    def get_state(self):
      return {}

    def set_state(self, state):
      del state

  saved = _batch_iterator_states(2)
  same = data_resume.state_for_this_process(PerShard(), saved, process_index=1, process_count=2, step=7,
                                            allow_restart=False)
  assert same is saved[1]
  for count in (1, 4):
    with pytest.raises(data_resume.TopologyChangeError, match=(
        rf"step 7 was written by 2 processes, this run has {count}; PerShard cannot map the 2 per-process data "
        rf"positions onto {count} shards exactly\. Resume with 2 processes .* "
        r"train\.data_restart_on_topology_change=True")):
      data_resume.state_for_this_process(PerShard(), saved, process_index=0, process_count=count, step=7,
                                         allow_restart=False)
  with pytest.warns(RuntimeWarning, match="train.data_restart_on_topology_change=True: the data stream restarts"):
    assert data_resume.state_for_this_process(PerShard(), saved, process_index=0, process_count=1, step=7,
                                              allow_restart=True) is None
  assert len({data_resume.restart_seed(0, 7), data_resume.restart_seed(0, 8), data_resume.restart_seed(1, 7),
              0}) == 4


def test_synthetic_position_reshards_exactly():
  lengths = {"inputs": 8, "targets": 8}
  two = [SyntheticBatches(batch_size=4, feature_lengths=lengths, vocab_size=32, seed=3, shard_index=i,
                          num_shards=2) for i in range(2)]
  for shard in two:
    for _ in range(3):
      next(shard)
  saved = [shard.get_state() for shard in two]
  one = SyntheticBatches(batch_size=4, feature_lengths=lengths, vocab_size=32, seed=3)
  one.set_state(data_resume.state_for_this_process(one, saved, process_index=0, process_count=1, step=3,
                                                   allow_restart=False))
  expected = [next(shard) for shard in two]
  for name, value in next(one).items():
    np.testing.assert_array_equal(value, np.concatenate([part[name] for part in expected]), err_msg=name)
  with pytest.raises(ValueError, match="not one stream of seed 3"):
    one.reshard_state([saved[0], dict(saved[1], batches_read=2)])
