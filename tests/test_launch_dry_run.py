"""The launch scripts' --dry-run output: the exact commands, worker counts, environment and gin files."""
import os
import pathlib
import shlex
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch"


def dry_run(script, *args, env=None, expect_ok=True):
  full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
  full_env.update(env or {})
  result = subprocess.run(["bash", str(LAUNCH / script), *args], capture_output=True, text=True, env=full_env,
                          timeout=60, check=False)
  if expect_ok:
    assert result.returncode == 0, result.stderr
  return result


def commands(output):
  """The printed commands ("+ ..." lines), each split into words the way bash would."""
  return [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("+ ")]


def flag(words, name):
  values = [w.split("=", 1)[1] for w in words if w.startswith(name + "=")]
  assert len(values) == 1, (name, words)
  return values[0]


TPU_ARGS = ["--name", "flan-xl", "--zone", "us-central2-b", "--project", "my-proj"]


@pytest.mark.parametrize("tpu_type,hosts,preset", [
    ("v4-8", 1, "tpu_v4_8"), ("v4-32", 4, "tpu_v4_32"), ("v5e-16", 4, "tpu_v5e_16"), ("v5p-8", 1, "tpu_v5p_8")])
def test_tpu_pod_all_steps(tpu_type, hosts, preset):
  out = dry_run("tpu_pod.sh", "all", *TPU_ARGS, "--type", tpu_type, "--model-dir", "gs://bucket/run",
                "--gin_file", "gin/flan_t5/xl.gin", "--dry-run", "--", "--gin.TRAIN_STEPS=100").stdout
  assert f"{hosts} host(s)" in out
  create, archive, scp, install, train, logs = commands(out)
  assert create[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "create", "flan-xl"]
  expected_type = tpu_type.replace("v5e-", "v5litepod-")
  assert flag(create, "--accelerator-type") == expected_type
  assert flag(create, "--zone") == "us-central2-b" and flag(create, "--project") == "my-proj"
  assert archive[:2] == ["git", "-C"] and "archive" in archive
  assert scp[4] == "scp" and flag(scp, "--worker") == "all"
  assert flag(install, "--worker") == "all"
  assert "python3.11 -m venv ~/flan-venv" in flag(install, "--command")
  assert 'jax[tpu]==' in flag(install, "--command")

  assert train[4] == "ssh" and flag(train, "--worker") == "all"
  remote = shlex.split(flag(train, "--command"))
  assert ("FLAN_DISTRIBUTED=tpu_pod" in remote) == (hosts > 1)
  python_at = remote.index("~/flan-venv/bin/python")
  assert remote[python_at + 1:python_at + 3] == ["-m", "flan.train"]
  assert f"--gin_file=gin/hardware/{preset}.gin" in remote
  assert "--gin_file=gin/flan_t5/xl.gin" in remote
  assert '--gin.MODEL_DIR="gs://bucket/run"' in remote
  assert "--gin.TRAIN_STEPS=100" in remote
  assert flag(logs, "--worker") == "0" and "tail" in flag(logs, "--command")


def test_tpu_pod_stop_and_delete():
  stop, = commands(dry_run("tpu_pod.sh", "stop", *TPU_ARGS, "--dry-run").stdout)
  assert flag(stop, "--worker") == "all" and "kill -TERM" in flag(stop, "--command")
  delete, = commands(dry_run("tpu_pod.sh", "delete", *TPU_ARGS, "--dry-run").stdout)
  assert delete[4:6] == ["delete", "flan-xl"] and "--quiet" in delete


def test_tpu_pod_spot_and_versions():
  create, = commands(dry_run("tpu_pod.sh", "create", *TPU_ARGS, "--type", "v5e-16", "--spot", "--dry-run").stdout)
  assert "--spot" in create and flag(create, "--version") == "v2-alpha-tpuv5-lite"
  create, = commands(dry_run("tpu_pod.sh", "create", *TPU_ARGS, "--type", "v5p-8", "--dry-run").stdout)
  assert flag(create, "--version") == "v2-alpha-tpuv5"


def test_tpu_pod_refuses_local_model_dir_on_multi_host():
  result = dry_run("tpu_pod.sh", "train", *TPU_ARGS, "--type", "v4-32", "--model-dir", "/tmp/run", "--dry-run",
                   expect_ok=False)
  assert result.returncode != 0 and "gs://" in result.stderr


def test_tpu_pod_rejects_bad_input():
  assert "unknown action" in dry_run("tpu_pod.sh", "launch", *TPU_ARGS, expect_ok=False).stderr
  result = dry_run("tpu_pod.sh", "create", *TPU_ARGS, "--type", "tpu-large", "--dry-run", expect_ok=False)
  assert result.returncode != 0 and "tpu-large" in result.stderr
  result = dry_run("tpu_pod.sh", "create", *TPU_ARGS, "--type", "v9-8", "--dry-run", expect_ok=False)
  assert "unknown TPU generation 'v9'" in result.stderr


def test_slurm_submission_from_login_node():
  out = dry_run("gpu_slurm.sbatch", "--nodes", "4", "--partition", "a100", "--model-dir", "/shared/runs/xl",
                "--gin_file", "gin/flan_t5/xl.gin", "--dry-run", "--", "--gin.TRAIN_STEPS=10").stdout
  assert "4 process(es), 32 devices" in out
  submit, = commands(out)
  assert submit[0] == "sbatch"
  assert flag(submit, "--nodes") == "4" and flag(submit, "--ntasks-per-node") == "1"
  assert flag(submit, "--gpus-per-node") == "8" and flag(submit, "--partition") == "a100"
  assert flag(submit, "--chdir") == str(REPO)
  script_at = submit.index(str(LAUNCH / "gpu_slurm.sbatch"))
  forwarded = submit[script_at + 1:]
  assert "--dry-run" not in forwarded
  assert forwarded[-2:] == ["--", "--gin.TRAIN_STEPS=10"] and "gin/flan_t5/xl.gin" in forwarded


def test_slurm_job_runs_one_task_per_node_with_distributed_env():
  job_env = {"SLURM_JOB_ID": "12345", "SLURM_JOB_NODELIST": "gpu[07-10]", "SLURM_JOB_NUM_NODES": "4",
             "SLURM_GPUS_PER_NODE": "h100:8", "SLURM_SUBMIT_DIR": str(REPO)}
  out = dry_run("gpu_slurm.sbatch", "--model-dir", "/shared/runs/xl", "--gin_file", "gin/flan_t5/xl.gin",
                "--dry-run", env=job_env).stdout
  expected_port = 61440 + 12345 % 4096
  assert f"FLAN_COORDINATOR_ADDRESS=gpu07:{expected_port}" in out
  assert "FLAN_NUM_PROCESSES=4" in out
  srun, = commands(out)
  assert srun[0] == "srun"
  assert flag(srun, "--nodes") == "4" and flag(srun, "--ntasks-per-node") == "1"
  assert flag(srun, "--gpus-per-node") == "8"
  assert srun[srun.index("-m") + 1] == "flan.train"
  assert "--gin_file=gin/hardware/gpu_nodes_x8.gin" in srun and "--gin_file=gin/flan_t5/xl.gin" in srun
  assert '--gin.MODEL_DIR="/shared/runs/xl"' in srun


def test_slurm_single_node_picks_the_one_node_preset():
  job_env = {"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "node1", "SLURM_JOB_NUM_NODES": "1",
             "SLURM_GPUS_PER_NODE": "1", "SLURM_SUBMIT_DIR": str(REPO)}
  srun, = commands(dry_run("gpu_slurm.sbatch", "--model-dir", "/r", "--dry-run", env=job_env).stdout)
  assert "--gin_file=gin/hardware/gpu_1.gin" in srun and flag(srun, "--gpus-per-node") == "1"


def test_local_cpu_with_fake_devices():
  out = dry_run("local.sh", "--cpu-devices", "8", "--gpus", "none", "--dry-run", "--", "--gin.TRAIN_STEPS=5").stdout
  cmd, = commands(out)
  assert cmd[0] == "env"
  assert "XLA_FLAGS=--xla_force_host_platform_device_count=8" in cmd and "JAX_PLATFORMS=cpu" in cmd
  assert "FLAN_DISTRIBUTED=off" in cmd
  assert cmd[cmd.index("-m") + 1] == "flan.train"
  assert "--gin_file=gin/local/demo.gin" in cmd and cmd[-1] == "--gin.TRAIN_STEPS=5"


def test_local_gpus():
  cmd, = commands(dry_run("local.sh", "--gpus", "0,1,2,3", "--gin_file", "gin/flan_t5/base.gin",
                          "--model-dir", "runs/base", "--dry-run").stdout)
  assert "CUDA_VISIBLE_DEVICES=0,1,2,3" in cmd and "JAX_PLATFORMS=cpu" not in cmd
  assert "--gin_file=gin/hardware/gpu_8.gin" in cmd and "--gin_file=gin/flan_t5/base.gin" in cmd
  assert '--gin.MODEL_DIR="runs/base"' in cmd
  cmd, = commands(dry_run("local.sh", "--gpus", "3", "--dry-run").stdout)
  assert "--gin_file=gin/hardware/gpu_1.gin" in cmd


def test_presets_named_by_the_scripts_exist():
  for name in ("tpu_v4_8", "tpu_v4_32", "tpu_v5e_16", "tpu_v5p_8", "gpu_1", "gpu_8", "gpu_nodes_x8"):
    assert (REPO / "gin" / "hardware" / f"{name}.gin").is_file(), name


@pytest.mark.parametrize("preset,mesh", [
    ("tpu_v4_8", (1, 4, 1)), ("tpu_v4_32", (1, 16, 1)), ("tpu_v5e_16", (1, 16, 1)), ("tpu_v5p_8", (1, 4, 1)),
    ("gpu_1", (1, 1, 1)), ("gpu_8", (1, -1, 1)), ("gpu_nodes_x8", (-1, 8, 1))])
def test_presets_parse_with_the_trainer_config(preset, mesh):
  gin = pytest.importorskip("gin")
  from flan import gin_args  # pylint: disable=import-outside-toplevel
  from flan.trainer import loop  # pylint: disable=import-outside-toplevel,unused-import
  import flan.models.config  # pylint: disable=import-outside-toplevel,unused-import
  gin.clear_config()
  try:
    # the order the scripts use: preset first, then the run and size files
    gin_args.parse_gin([f"hardware/{preset}.gin", "runs/finetune.gin", "flan_t5/xl.gin"],
                       ['MODEL_DIR="/tmp/run"'], gin_args.default_search_paths())
    bound = tuple(gin.query_parameter(f"train.mesh_{axis}") for axis in ("data", "fsdp", "model"))
    assert bound == mesh
    assert gin.query_parameter("train.fsdp_embed") == (preset != "gpu_1")
  finally:
    gin.clear_config()
