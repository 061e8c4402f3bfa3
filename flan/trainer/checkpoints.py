"""Orbax checkpoints of training: params, optimizer state and step, the data iterator position (JSON),
the model config and the operative gin config, under <model_dir>/checkpoints/<step>/.

Saves are asynchronous (the host continues training while arrays are written); the last `keep` steps are
kept (at least 1: the final checkpoint always survives). A write that fails (disk full, read-only) raises
flan.errors.EnvironmentProblem naming the path and the last step written, at the first call after the
failure (`check` each step notices a failed background write without waiting for the next save).

Restoring takes the latest step whose files read back; an unreadable (truncated, half-written) latest step
is moved aside with a warning and the previous one is used; when no step can be read nothing is moved and
the run stops. A checkpoint that reads fine but holds other parameter names or shapes than the configured
model is a configuration error (flan.errors.ConfigError), never a reason to set it aside.
The reading for inference lives in flan.native_checkpoint (shared with the model layer).
"""
import dataclasses
import errno
import json
import logging
import os
import shutil
import time
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp

from flan import native_checkpoint
from flan.errors import ConfigError, EnvironmentProblem, InputError, debug_enabled, describe_os_error
# Re-exported: the inference reading that used to live here.
from flan.native_checkpoint import checkpoint_dir, is_native_checkpoint, load_params_for_inference  # pylint: disable=unused-import

ITEMS = ("params", "train", "data", "model_config", "gin_config")
log = logging.getLogger(__name__)


def check_keep(keep):
  """train.keep_checkpoints: a whole number >= 1 (the newest `keep` steps are kept), or None (keep all)."""
  if keep is None:
    return None
  if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
    raise ConfigError(f"train.keep_checkpoints={keep!r}: must be a whole number >= 1 (how many of the newest "
                      "checkpoints to keep; the final one is always among them) or None to keep all")
  return keep


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


def _os_error_in(error):
  """The OSError behind `error` (itself or in its cause/context chain), or None."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, OSError):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


class _OneLineOrbaxErrors(logging.Filter):
  """orbax logs the traceback of a failed background write once per thread it passes through (hundreds of
  lines for one full disk); the Checkpointer reports the failure itself, so keep orbax's lines short."""

  def filter(self, record):
    if record.exc_info and "orbax" in record.pathname:
      record.exc_info = record.exc_text = None
    return True


class Checkpointer:
  """Periodic/final saves and restore-latest-readable for one model directory.

  Timing, for honest reporting: `save` blocks the caller first until the previous save's background write
  has finished (`last_wait_s`), then while it starts this save (`last_start_s`: the device-to-host copy,
  directories, the iterator states); `wait` blocks until the write in flight has finished.
  `take_finished_write` gives how long a write ran in the background after its `save` returned.
  `last_written_step` is the newest step known to be completely written (None before any)."""

  def __init__(self, model_dir, *, keep=3, use_async=True):
    keep = check_keep(keep)
    self.directory = checkpoint_dir(model_dir)
    self.use_async = use_async
    async_options = ocp.AsyncOptions(post_finalization_callback=self._mark_written) if use_async else None
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=use_async, create=True,
                                           async_options=async_options)
    try:
      self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)
    except Exception as error:  # pylint: disable=broad-except  # orbax wraps the OSError of makedirs
      os_error = _os_error_in(error)
      if os_error is None:
        raise
      if os_error.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):  # a file where a directory belongs
        raise ConfigError(f"train.model_dir {model_dir}: cannot create its checkpoints directory: "
                          f"{describe_os_error(os_error)}") from error
      raise EnvironmentProblem(f"cannot create the checkpoint directory: {describe_os_error(os_error)}") from error
    self.seconds_blocked = 0.0  # host time spent in save and wait calls (the writing is in the background)
    self.last_wait_s = self.last_start_s = 0.0
    self._in_flight = None  # (step, when its save returned) of the last save not yet waited for
    self._written_at = None  # when the background write in flight finished (set by orbax's thread)
    self._finished_write = None  # (step, background seconds) of the last write waited for, not yet taken
    self._failed = None  # the EnvironmentProblem of a failed write, once reported
    steps = self.all_steps()
    self.last_written_step = steps[-1] if steps else None
    self._quiet = None if debug_enabled() else _OneLineOrbaxErrors()
    if self._quiet is not None:
      logging.getLogger("absl").addFilter(self._quiet)

  def _mark_written(self):
    self._written_at = time.perf_counter()

  def all_steps(self):
    return sorted(self.manager.all_steps())

  def _write_failed(self, step, error):
    """The EnvironmentProblem for a failed write of `step` (or `error` itself when no OSError is behind it,
    which is a bug and keeps its traceback)."""
    os_error = _os_error_in(error)
    if os_error is None:
      return error
    last = (f"the last checkpoint written is step {self.last_written_step} in {self.directory}"
            if self.last_written_step is not None else "no checkpoint of this run has been written")
    return EnvironmentProblem(f"writing checkpoint step {step} to {os.path.join(self.directory, str(step))} "
                              f"failed: {describe_os_error(os_error)}; {last}; stopping")

  def _raise_write_failed(self, step, error):
    failure = self._write_failed(step, error)
    if failure is error:
      raise error
    self._failed = failure
    raise failure from error

  def save(self, state, *, iterator_state, model_config, gin_config="", force=True):
    """Starts saving `state` at its step; returns the step. Arrays are written in the background.
    Raises EnvironmentProblem when the previous write or this one fails."""
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
    try:
      self.manager.save(step, args=args, force=force)
    except Exception as error:  # pylint: disable=broad-except
      self._raise_write_failed(step, error)
    returned = time.perf_counter()
    self.last_start_s = returned - started
    self.seconds_blocked += self.last_start_s
    self._in_flight = (step, returned)
    if not self.use_async:
      self.last_written_step = step
    return step

  def check(self):
    """Cheap, every step: when the background write in flight has ended, collects its outcome (raising
    EnvironmentProblem if it failed) so a failure is reported at once, not at the next save."""
    if self._in_flight is not None and self.use_async and not self.manager.is_saving_in_progress():
      self.wait()

  def wait(self):
    """Blocks until the save in flight (if any) is written; returns the seconds blocked. Raises
    EnvironmentProblem when that write failed."""
    started = time.perf_counter()
    if self._failed is not None:  # reported once; orbax would re-raise the same failure on every wait
      return 0.0
    try:
      self.manager.wait_until_finished()
    except Exception as error:  # pylint: disable=broad-except
      step = self._in_flight[0] if self._in_flight is not None else "?"
      self._in_flight = None
      self._raise_write_failed(step, error)
    finished = time.perf_counter()
    if self._in_flight is not None:
      step, returned = self._in_flight
      if not self.use_async:
        self._finished_write = (step, 0.0)
      elif self._written_at is not None:  # orbax calls _mark_written once the step is finalized
        self._finished_write = (step, max(0.0, self._written_at - returned))
      if self.use_async and self._written_at is None and step not in self.manager.all_steps():
        self._in_flight = None  # orbax logged the failure of this step's finalization and dropped it
        self._failed = EnvironmentProblem(
            f"writing checkpoint step {step} to {os.path.join(self.directory, str(step))} did not complete (see "
            f"the log above); the last checkpoint written is step {self.last_written_step}; stopping")
        raise self._failed
      self.last_written_step = step
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
    """Waits for the write in flight and closes; a failed write still raises (after closing)."""
    try:
      self.wait()
    finally:
      try:
        self.manager.close()
      except Exception:  # pylint: disable=broad-except
        if self._failed is None:
          raise
      # after a failed write orbax's leftover threads still log at interpreter exit: keep those short too
      if self._quiet is not None and self._failed is None:
        logging.getLogger("absl").removeFilter(self._quiet)

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
    process order, step) of the latest readable checkpoint, or None when there is no checkpoint. The saving
    run may have had another number of processes: arrays are resharded onto this mesh.

    A step whose parameters differ in name or shape from `abstract_state` raises ConfigError (the model
    configuration changed). Unreadable steps newer than a readable one are moved to
    <model_dir>/unreadable_checkpoints with a warning; when no step reads, InputError and nothing moves."""
    steps = self.all_steps()
    failures = []  # (step, error) of the unreadable steps, newest first
    for step in reversed(steps):
      try:
        self._check_matches_model(step, abstract_state.params)
        restored = self._restore(step, abstract_state)
      except ConfigError:
        raise
      except Exception as error:  # pylint: disable=broad-except  # any read failure means "not usable"
        failures.append((step, error))
        continue
      self._set_aside_unreadable(failures, fallback_step=step)
      return restored
    if failures:
      newest, error = failures[0]
      raise InputError(
          f"no checkpoint in {self.directory} can be read (steps {', '.join(str(s) for s, _ in failures)}); "
          f"step {newest}: {type(error).__name__}: {str(error)[:300]}. Nothing was moved; to start afresh, use "
          "another train.model_dir or move the checkpoints/ directory away")
    return None

  def _set_aside_unreadable(self, failures, fallback_step):
    for position, (step, error) in enumerate(failures):
      fallback = failures[position + 1][0] if position + 1 < len(failures) else fallback_step
      moved_to = self._set_aside(step)
      message = native_checkpoint.unreadable_message(step, self.directory, error, fallback, set_aside_to=moved_to)
      log.warning(message)
      warnings.warn(message, RuntimeWarning, stacklevel=3)

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

  def _check_matches_model(self, step, abstract_params):
    """ConfigError naming the first parameter whose name or shape differs between step `step`'s saved params
    and the configured model. Raises whatever orbax raises when the params metadata cannot be read."""
    step_path = os.path.join(self.directory, str(step))
    saved = {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in
             jax.tree_util.tree_leaves_with_path(native_checkpoint.read_params_metadata(step_path))}
    expected = {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in
                jax.tree_util.tree_leaves_with_path(abstract_params)}
    advice = ("the model configuration changed since these checkpoints were written; use another "
              "train.model_dir, or the configuration the checkpoints were written with")
    where = f"checkpoint step {step} in {self.directory} does not match the configured model"
    for name in sorted(expected):
      if name not in saved:
        raise ConfigError(f"{where}: parameter {_param_name(name)} (shape {expected[name]}) is not in the "
                          f"checkpoint ({len(set(expected) - set(saved))} missing, "
                          f"{len(set(saved) - set(expected))} unexpected); {advice}")
      if saved[name] != expected[name]:
        different = sum(saved[n] != expected[n] for n in expected if n in saved)
        raise ConfigError(f"{where}: parameter {_param_name(name)} has shape {saved[name]} in the checkpoint, "
                          f"{expected[name]} configured ({different} parameters differ); {advice}")
    extra = sorted(set(saved) - set(expected))
    if extra:
      raise ConfigError(f"{where}: the checkpoint has parameter {_param_name(extra[0])}, which the configured "
                        f"model lacks ({len(extra)} unexpected); {advice}")

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


def _param_name(keystr):
  """"['encoder']['layers_0']['mlp']" -> "encoder/layers_0/mlp"."""
  return "/".join(part.strip("'\"") for part in keystr.strip("[]").split("]["))
