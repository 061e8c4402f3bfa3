"""Multi-host start: one call that joins this process to JAX's multi-controller runtime.

`initialize()` must run before anything touches the devices (`jax.devices()`, a mesh, a jit). What it does
depends on where the process runs, decided by `detect()` from the environment alone:

  explicit   FLAN_COORDINATOR_ADDRESS (host:port), FLAN_NUM_PROCESSES, FLAN_PROCESS_ID are set (any
             cluster, or several processes on one machine); FLAN_LOCAL_DEVICE_IDS (e.g. "0,1") optional.
  slurm      inside `srun` with more than one task: process id = SLURM_PROCID, count = SLURM_NTASKS,
             coordinator = FLAN_COORDINATOR_ADDRESS or the first node of the step's node list, at
             FLAN_COORDINATOR_PORT (default: a port derived from SLURM_JOB_ID, the same on every task).
  tpu_pod    a Cloud TPU VM (libtpu installed and TPU devices present): JAX's own detection asks the TPU
             metadata for the workers, so every worker just calls `jax.distributed.initialize()`.
  single     anything else (a laptop, one GPU box, one SLURM task): nothing to do.

FLAN_DISTRIBUTED=off forces `single`; FLAN_DISTRIBUTED=tpu_pod forces the TPU path.
No TensorFlow here: this runs on accelerator hosts.
"""
import dataclasses
import glob
import importlib.util
import logging
import os
import re
from typing import Mapping, Optional

METHODS = ("single", "explicit", "slurm", "tpu_pod")
_EXPLICIT_VARS = ("FLAN_COORDINATOR_ADDRESS", "FLAN_NUM_PROCESSES", "FLAN_PROCESS_ID")


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
  """How this process joins the others; `coordinator_address` etc. are None where JAX detects them."""
  method: str
  coordinator_address: Optional[str] = None
  num_processes: Optional[int] = None
  process_id: Optional[int] = None
  local_device_ids: Optional[tuple] = None

  @property
  def is_multi_process(self) -> bool:
    return self.method != "single"

  def describe(self) -> str:
    if self.method == "single":
      return "single process"
    if self.method == "tpu_pod":
      return "Cloud TPU pod (workers detected by JAX from the TPU metadata)"
    return (f"{self.method}: process {self.process_id} of {self.num_processes}, "
            f"coordinator {self.coordinator_address}")


def _int_var(env: Mapping[str, str], name: str) -> int:
  value = env[name]
  try:
    return int(value)
  except ValueError:
    raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def _device_ids(env: Mapping[str, str]) -> Optional[tuple]:
  value = env.get("FLAN_LOCAL_DEVICE_IDS", "").strip()
  if not value:
    return None
  try:
    return tuple(int(v) for v in value.split(","))
  except ValueError:
    raise ValueError(
        f"environment variable FLAN_LOCAL_DEVICE_IDS={value!r} is not a comma-separated list of "
        "integers") from None


def _check_address(address: str, source: str) -> str:
  host, sep, port = address.rpartition(":")
  if not sep or not host or not port.isdigit():
    raise ValueError(f"{source}={address!r} is not of the form host:port")
  return address


def expand_hostlist(hostlist: str) -> list:
  """Expands a SLURM node list such as 'gpu[01-03,07],login1' into host names, in order."""
  hosts = []
  for item in _split_top_level(hostlist.strip()):
    hosts.extend(_expand_item(item, hostlist))
  return hosts


def _split_top_level(text: str) -> list:
  items, depth, start = [], 0, 0
  for i, ch in enumerate(text):
    depth += {"[": 1, "]": -1}.get(ch, 0)
    if depth < 0 or depth > 1:
      raise ValueError(f"malformed SLURM node list {text!r}")
    if ch == "," and depth == 0:
      items.append(text[start:i])
      start = i + 1
  if depth:
    raise ValueError(f"malformed SLURM node list {text!r}: unclosed '['")
  items.append(text[start:])
  return [item for item in items if item]


def _expand_item(item: str, whole: str) -> list:
  match = re.search(r"\[([^\]]*)\]", item)
  if not match:
    return [item]
  prefix, rest = item[:match.start()], item[match.end():]
  names = []
  for part in match.group(1).split(","):
    low, dash, high = part.partition("-")
    if not low.isdigit() or (dash and not high.isdigit()):
      raise ValueError(f"malformed range {part!r} in SLURM node list {whole!r}")
    width = len(low)
    for number in range(int(low), int(high or low) + 1):
      for tail in _expand_item(rest, whole):
        names.append(f"{prefix}{number:0{width}d}{tail}")
  return names


def _slurm_group(env: Mapping[str, str]) -> ProcessGroup:
  num_processes = _int_var(env, "SLURM_NTASKS")
  process_id = _int_var(env, "SLURM_PROCID")
  if "FLAN_NUM_PROCESSES" in env and _int_var(env, "FLAN_NUM_PROCESSES") != num_processes:
    raise ValueError(f"FLAN_NUM_PROCESSES={env['FLAN_NUM_PROCESSES']} but this srun step has "
                     f"SLURM_NTASKS={num_processes} tasks: run one task per process (srun --ntasks-per-node)")
  address = env.get("FLAN_COORDINATOR_ADDRESS")
  if address:
    _check_address(address, "FLAN_COORDINATOR_ADDRESS")
  else:
    node_list = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    if not node_list:
      raise ValueError("inside SLURM with several tasks but neither SLURM_STEP_NODELIST nor "
                       "SLURM_JOB_NODELIST is set; set FLAN_COORDINATOR_ADDRESS=host:port")
    if "FLAN_COORDINATOR_PORT" in env:
      port = _int_var(env, "FLAN_COORDINATOR_PORT")
    else:  # same value on every task of the job, in the ephemeral range
      port = 61440 + _int_var(env, "SLURM_JOB_ID") % 4096
    address = f"{expand_hostlist(node_list)[0]}:{port}"
  return ProcessGroup("slurm", address, num_processes, process_id, _device_ids(env))


def _on_cloud_tpu_vm() -> bool:
  has_libtpu = importlib.util.find_spec("libtpu") is not None or bool(os.environ.get("TPU_LIBRARY_PATH"))
  has_chips = bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))
  return has_libtpu and has_chips


def detect(env: Optional[Mapping[str, str]] = None, *, on_tpu_vm: Optional[bool] = None) -> ProcessGroup:
  """Decides from the environment how this process starts; reads nothing else unless on_tpu_vm is None."""
  env = os.environ if env is None else env
  mode = env.get("FLAN_DISTRIBUTED", "auto").strip().lower()
  if mode not in ("auto", "off", "tpu_pod"):
    raise ValueError(f"environment variable FLAN_DISTRIBUTED={mode!r}: expected auto, off or tpu_pod")
  if mode == "off":
    return ProcessGroup("single")
  if mode == "tpu_pod":
    return ProcessGroup("tpu_pod")

  if "FLAN_COORDINATOR_ADDRESS" in env and "SLURM_PROCID" not in env:
    missing = [name for name in _EXPLICIT_VARS if name not in env]
    if missing:
      raise ValueError(f"FLAN_COORDINATOR_ADDRESS is set but {', '.join(missing)} is not: set all of "
                       f"{', '.join(_EXPLICIT_VARS)}")
  if all(name in env for name in _EXPLICIT_VARS):
    address = _check_address(env["FLAN_COORDINATOR_ADDRESS"], "FLAN_COORDINATOR_ADDRESS")
    num_processes = _int_var(env, "FLAN_NUM_PROCESSES")
    process_id = _int_var(env, "FLAN_PROCESS_ID")
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise ValueError(f"FLAN_PROCESS_ID={process_id} must be in [0, FLAN_NUM_PROCESSES={num_processes})")
    if num_processes == 1:
      return ProcessGroup("single")
    return ProcessGroup("explicit", address, num_processes, process_id, _device_ids(env))

  if "SLURM_JOB_ID" in env and "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
    if _int_var(env, "SLURM_NTASKS") > 1:
      return _slurm_group(env)
    return ProcessGroup("single")

  if on_tpu_vm is None:
    on_tpu_vm = _on_cloud_tpu_vm()
  if on_tpu_vm:
    return ProcessGroup("tpu_pod")
  return ProcessGroup("single")


def initialize(env: Optional[Mapping[str, str]] = None, *, timeout_s: int = 300) -> ProcessGroup:
  """Joins the multi-controller runtime as `detect()` decides; a no-op for a single process.

  Call it once, first thing in main(); calling it again after a successful start does nothing.
  """
  import jax  # pylint: disable=import-outside-toplevel
  group = detect(env)
  if not group.is_multi_process:
    return group
  if jax.distributed.is_initialized():
    return group
  if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
    # CPU devices of several processes talk through gloo (the default in jax 0.10; set for later versions).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if group.method == "tpu_pod":
    jax.distributed.initialize(initialization_timeout=timeout_s)
  else:
    jax.distributed.initialize(
        coordinator_address=group.coordinator_address,
        num_processes=group.num_processes,
        process_id=group.process_id,
        local_device_ids=list(group.local_device_ids) if group.local_device_ids else None,
        initialization_timeout=timeout_s)
  logging.info("jax.distributed started: %s; process %d of %d, %d local / %d global devices",
               group.describe(), jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())
  return group


def shutdown() -> None:
  """Leaves the runtime (lets every process finish its last collective before exiting)."""
  import jax  # pylint: disable=import-outside-toplevel
  if jax.distributed.is_initialized():
    jax.distributed.shutdown()
