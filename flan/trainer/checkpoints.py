"""Orbax checkpoints of training: params, optimizer state and step, the data iterator position (JSON),
the model config and the operative gin config, under <model_dir>/checkpoints/<step>/.

Saves are asynchronous (the host continues training while arrays are written); the last `keep` steps are
kept. Restoring takes the latest step whose files read back; an unreadable (truncated, half-written) latest
step is skipped with a warning and the previous one is used.
"""
import dataclasses
import json
import logging
import os
import shutil
import time
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp

from flan.models.config import T5Config

ITEMS = ("params", "train", "data", "model_config", "gin_config")
log = logging.getLogger(__name__)


def checkpoint_dir(model_dir):
  return os.path.join(os.path.abspath(model_dir), "checkpoints")


def _gather_iterator_states(iterator_state):
  """All processes' iterator states, in process order (each host reads its own shard of the data)."""
  if jax.process_count() == 1:
    return [iterator_state]
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
  encoded = np.frombuffer(json.dumps(iterator_state).encode(), np.uint8)
  longest = int(np.max(multihost_utils.process_allgather(np.array([encoded.size]))))
  padded = np.zeros((longest,), np.uint8)
  padded[:encoded.size] = encoded
  gathered = np.asarray(multihost_utils.process_allgather(padded))
  return [json.loads(bytes(row).rstrip(b"\0").decode()) for row in gathered.reshape(-1, longest)]


class Checkpointer:
  """Periodic/final saves and restore-latest-readable for one model directory.

  Timing, for honest reporting: `save` blocks the caller first until the previous save's background write
  has finished (`last_wait_s`), then while it starts this save (`last_start_s`: the device-to-host copy,
  directories, the iterator states); `wait` blocks until the write in flight has finished.
  `take_finished_write` gives how long a write ran in the background after its `save` returned."""

  def __init__(self, model_dir, *, keep=3, use_async=True):
    self.directory = checkpoint_dir(model_dir)
    self.use_async = use_async
    async_options = ocp.AsyncOptions(post_finalization_callback=self._mark_written) if use_async else None
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=use_async, create=True,
                                           async_options=async_options)
    self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)
    self.seconds_blocked = 0.0  # host time spent in save and wait calls (the writing is in the background)
    self.last_wait_s = self.last_start_s = 0.0
    self._in_flight = None  # (step, when its save returned) of the last save not yet waited for
    self._written_at = None  # when the background write in flight finished (set by orbax's thread)
    self._finished_write = None  # (step, background seconds) of the last write waited for, not yet taken

  def _mark_written(self):
    self._written_at = time.perf_counter()

  def all_steps(self):
    return sorted(self.manager.all_steps())

  def save(self, state, *, iterator_state, model_config, gin_config="", force=True):
    """Starts saving `state` at its step; returns the step. Arrays are written in the background."""
    self.last_wait_s = self.wait()  # orbax waits for the previous write anyway; timed apart from the start
    started = time.perf_counter()
    step = int(jax.device_get(state.step))
    args = ocp.args.Composite(
        params=ocp.args.StandardSave(state.params),
        train=ocp.args.StandardSave({"step": state.step, "opt_state": state.opt_state}),
        data=ocp.args.JsonSave({"iterator_states": _gather_iterator_states(iterator_state)}),
        model_config=ocp.args.JsonSave(dataclasses.asdict(model_config)),
        gin_config=ocp.args.JsonSave({"operative_config": gin_config}))
    self._written_at = None
    self.manager.save(step, args=args, force=force)
    returned = time.perf_counter()
    self.last_start_s = returned - started
    self.seconds_blocked += self.last_start_s
    self._in_flight = (step, returned)
    return step

  def wait(self):
    """Blocks until the save in flight (if any) is written; returns the seconds blocked."""
    started = time.perf_counter()
    self.manager.wait_until_finished()
    finished = time.perf_counter()
    if self._in_flight is not None:
      step, returned = self._in_flight
      if not self.use_async:
        self._finished_write = (step, 0.0)
      elif self._written_at is not None:  # orbax calls _mark_written once the step is finalized
        self._finished_write = (step, max(0.0, self._written_at - returned))
      self._in_flight = None
    self.seconds_blocked += finished - started
    return finished - started

  def take_finished_write(self):
    """(step, seconds its write ran in the background after `save` returned) of the last save that `wait`
    (or the next `save`) saw finish, once; None when there is none or its end was not recorded
    (0.0 s for synchronous saves)."""
    finished, self._finished_write = self._finished_write, None
    return finished

  def close(self):
    self.wait()
    self.manager.close()

  def restore_latest(self, abstract_state):
    """(state laid out like `abstract_state`, this process's iterator state, step) of the latest readable
    checkpoint, or None when there is none. Unreadable steps are skipped with a warning. A checkpoint of
    another number of processes raises ValueError (see restore_latest_all and flan.trainer.data_resume)."""
    restored = self.restore_latest_all(abstract_state)
    if restored is None:
      return None
    state, iterator_states, step = restored
    if len(iterator_states) != jax.process_count():
      raise ValueError(f"checkpoint step {step} in {self.directory} holds data positions for "
                       f"{len(iterator_states)} processes, this run has {jax.process_count()}")
    return state, iterator_states[jax.process_index()], step

  def restore_latest_all(self, abstract_state):
    """(state laid out like `abstract_state` on this run's mesh, every saving process's iterator state in
    process order, step) of the latest readable checkpoint, or None. The saving run may have had another
    number of processes: arrays are resharded onto this mesh. Unreadable steps are skipped with a warning."""
    steps = self.all_steps()
    for position, step in enumerate(reversed(steps)):
      try:
        restored = self._restore(step, abstract_state)
      except Exception as error:  # pylint: disable=broad-except  # any read failure means "not usable"
        previous = steps[-position - 2] if position + 1 < len(steps) else None
        moved_to = self._set_aside(step)
        message = (f"checkpoint step {step} in {self.directory} could not be read "
                   f"({type(error).__name__}: {str(error)[:300]}); moved to {moved_to}; "
                   + (f"falling back to step {previous}" if previous is not None else "no older checkpoint"))
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        continue
      return restored
    return None

  def _set_aside(self, step):
    """Moves an unreadable step out of the way (so the run can save that step again); returns where to."""
    target = os.path.join(os.path.dirname(self.directory), "unreadable_checkpoints", f"{step}-{int(time.time())}")
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.move(os.path.join(self.directory, str(step)), target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
      multihost_utils.sync_global_devices(f"flan_set_aside_checkpoint_{step}")
    self.manager.reload()
    return target

  def _restore(self, step, abstract_state):
    restored = self.manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(abstract_state.params),
        train=ocp.args.StandardRestore({"step": abstract_state.step, "opt_state": abstract_state.opt_state}),
        data=ocp.args.JsonRestore()))
    state = abstract_state.replace(step=restored.train["step"], params=restored.params,
                                   opt_state=restored.train["opt_state"])
    if int(jax.device_get(state.step)) != step:
      raise ValueError(f"checkpoint directory {step} holds step {int(jax.device_get(state.step))}")
    iterator_states = restored.data["iterator_states"]
    if not isinstance(iterator_states, list) or not iterator_states:
      raise ValueError(f"checkpoint step {step}: data/iterator_states is {iterator_states!r}, expected a "
                       "list of per-process states")
    return state, iterator_states, step


def _checkpoint_step_path(path):
  """A step directory (…/checkpoints/N), a checkpoints directory or a model directory -> step directory."""
  path = os.path.abspath(path)
  if os.path.isdir(os.path.join(path, "params")):
    return path
  directory = path if os.path.basename(path) == "checkpoints" else checkpoint_dir(path)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"no flan checkpoint at {path} (expected {directory} or a step directory "
                            "holding params/)")
  steps = sorted(int(name) for name in os.listdir(directory) if name.isdigit())
  if not steps:
    raise FileNotFoundError(f"no finished checkpoint steps in {directory}")
  return os.path.join(directory, str(steps[-1]))


def is_native_checkpoint(path):
  try:
    _checkpoint_step_path(path)
  except FileNotFoundError:
    return False
  return True


class _DropMissingStepMetadata(logging.Filter):
  """Reading one item of a step directory makes orbax warn that the step's own metadata is elsewhere."""

  def filter(self, record):
    return "_CHECKPOINT_METADATA" not in str(record.getMessage())


def load_params_for_inference(path):
  """(T5Config, params as float32 numpy in the unscanned layout) from a flan checkpoint: a model directory
  (latest step), its checkpoints/ directory or one step directory. Optimizer state is not read.
  A scan_layers model comes back unscanned, with scan_layers=False in its config."""
  step_path = _checkpoint_step_path(path)
  with open(os.path.join(step_path, "model_config", "metadata"), encoding="utf-8") as f:
    config_fields = json.load(f)
  known = {field.name for field in dataclasses.fields(T5Config)}
  config = T5Config(**{k: v for k, v in config_fields.items() if k in known})
  checkpointer = ocp.PyTreeCheckpointer()
  quiet = _DropMissingStepMetadata()
  logging.getLogger("absl").addFilter(quiet)
  try:
    metadata = checkpointer.metadata(os.path.join(step_path, "params")).item_metadata
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata.tree)
    params = checkpointer.restore(os.path.join(step_path, "params"),
                                  args=ocp.args.PyTreeRestore(restore_args=restore_args))
  finally:
    logging.getLogger("absl").removeFilter(quiet)
  params = jax.tree.map(lambda x: np.asarray(x, np.float32), params)
  if config.scan_layers:  # callers get the unscanned (T5X) layout, as from every other loader
    from flan.models import layout  # pylint: disable=import-outside-toplevel
    params = jax.tree.map(np.asarray, layout.unscan_params(params, config))
    config = config.replace(scan_layers=False)
  return config, params
