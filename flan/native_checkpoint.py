"""Reading flan's own (orbax) checkpoints for inference: <model_dir>/checkpoints/<step>/{params,model_config,...}.

Used by the model layer (flan.models.pretrained: flan-infer, flan-convert, flan-eval) and the trainer
(flan.trainer.checkpoints writes these directories), so neither reaches into the other. Optimizer state is
never read here. When the latest step of a model directory cannot be read (truncated, half-written), the
previous one is used with a warning, as training does; a step directory given explicitly is used or refused.
"""
import dataclasses
import json
import logging
import os
import warnings

import jax
import numpy as np

from flan.errors import InputError
from flan.models.config import T5Config
from flan.models.decoder_config import DecoderConfig

CHECKPOINTS = "checkpoints"
log = logging.getLogger(__name__)


def checkpoint_dir(model_dir):
  """<model_dir>/checkpoints, absolute."""
  return os.path.join(os.path.abspath(model_dir), CHECKPOINTS)


def is_step_directory(path):
  return os.path.isdir(os.path.join(path, "params"))


def finished_steps(directory):
  """The step numbers of the finished step directories under a checkpoints/ directory, ascending (orbax
  writes into a temporary name and renames when a step is complete, so half-written steps are not listed)."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def _checkpoints_directory(path):
  return path if os.path.basename(path) == CHECKPOINTS else checkpoint_dir(path)


def step_paths(path):
  """The step directories to try for `path`, newest first: a step directory (…/checkpoints/N) alone, or every
  finished step of a checkpoints directory or model directory. Raises InputError when there is none."""
  path = os.path.abspath(path)
  if is_step_directory(path):
    return [path]
  directory = _checkpoints_directory(path)
  if not os.path.isdir(directory):
    raise InputError(f"no flan checkpoint at {path} (expected {directory} or a step directory holding params/)")
  steps = finished_steps(directory)
  if not steps:
    raise InputError(f"no finished checkpoint steps in {directory}")
  return [os.path.join(directory, str(step)) for step in reversed(steps)]


def latest_step_path(path):
  """The newest step directory of `path` (see step_paths), readable or not."""
  return step_paths(path)[0]


def is_native_checkpoint(path):
  try:
    step_paths(path)
  except InputError:
    return False
  return True


class _DropMissingStepMetadata(logging.Filter):
  """Reading one item of a step directory makes orbax warn that the step's own metadata is elsewhere."""

  def filter(self, record):
    return "_CHECKPOINT_METADATA" not in str(record.getMessage())


def read_model_config(step_path):
  """The model config saved with a step: a DecoderConfig when it has decoder fields (num_kv_heads), else a
  T5Config (fields this version does not know are ignored)."""
  with open(os.path.join(step_path, "model_config", "metadata"), encoding="utf-8") as f:
    config_fields = json.load(f)
  cls = DecoderConfig if "num_kv_heads" in config_fields else T5Config
  known = {field.name for field in dataclasses.fields(cls)}
  return cls(**{k: v for k, v in config_fields.items() if k in known})


def _params_metadata(checkpointer, step_path):
  return checkpointer.metadata(os.path.join(step_path, "params")).item_metadata.tree


def read_params_metadata(step_path):
  """The saved params tree of a step with array metadata leaves (`.shape`, `.dtype`); reads no array."""
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  quiet = _DropMissingStepMetadata()
  logging.getLogger("absl").addFilter(quiet)
  try:
    return _params_metadata(ocp.PyTreeCheckpointer(), step_path)
  finally:
    logging.getLogger("absl").removeFilter(quiet)


def read_step(step_path):
  """(T5Config, params as float32 numpy in the unscanned layout) of one step directory; raises whatever
  orbax or the JSON reader raises for an unreadable one."""
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  config = read_model_config(step_path)
  checkpointer = ocp.PyTreeCheckpointer()
  quiet = _DropMissingStepMetadata()
  logging.getLogger("absl").addFilter(quiet)
  try:
    metadata = _params_metadata(checkpointer, step_path)
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata)
    params = checkpointer.restore(os.path.join(step_path, "params"),
                                  args=ocp.args.PyTreeRestore(restore_args=restore_args))
  finally:
    logging.getLogger("absl").removeFilter(quiet)
  params = jax.tree.map(lambda x: np.asarray(x, np.float32), params)
  if config.scan_layers:  # callers get the unscanned (T5X) layout, as from every other loader
    # pylint: disable=import-outside-toplevel
    from flan.models import decoder_layout, layout
    unscan = decoder_layout.unscan_params if isinstance(config, DecoderConfig) else layout.unscan_params
    params = jax.tree.map(np.asarray, unscan(params, config))
    config = config.replace(scan_layers=False)
  return config, params


def unreadable_message(step, directory, error, fallback_step, set_aside_to=None):
  """The one warning for a checkpoint step that cannot be read, shared by training and inference."""
  return (f"checkpoint step {step} in {directory} could not be read ({type(error).__name__}: {str(error)[:300]})"
          + (f"; moved to {set_aside_to}" if set_aside_to else "") + "; "
          + (f"falling back to step {fallback_step}" if fallback_step is not None else "no older checkpoint"))


def load_params_for_inference(path):
  """(T5Config, params as float32 numpy in the unscanned layout) from a flan checkpoint: a model directory
  (latest readable step), its checkpoints/ directory or one step directory. Optimizer state is not read.
  A scan_layers model comes back unscanned, with scan_layers=False in its config. An unreadable latest step
  is skipped with a warning (nothing is moved: inference never changes a model directory); when no step
  can be read, InputError names the directory and the newest step's error."""
  candidates = step_paths(path)
  first_error = None
  for position, step_path in enumerate(candidates):
    try:
      return read_step(step_path)
    except Exception as error:  # pylint: disable=broad-except  # any read failure means "not usable"
      first_error = first_error or error
      if len(candidates) == 1:
        break
      fallback = os.path.basename(candidates[position + 1]) if position + 1 < len(candidates) else None
      message = unreadable_message(os.path.basename(step_path), os.path.dirname(step_path), error, fallback)
      log.warning(message)
      warnings.warn(message, RuntimeWarning, stacklevel=2)
  raise InputError(f"no readable checkpoint step at {os.path.abspath(path)} (newest: {candidates[0]}: "
                   f"{type(first_error).__name__}: {str(first_error)[:300]})")
