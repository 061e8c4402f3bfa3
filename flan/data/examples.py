"""Tokenized (inputs, targets) examples of a registered seqio task or mixture, as numpy arrays.

The stream is the provider's own deterministic tf.data pipeline (seeded shuffle and mixing, this
host's shard, untrimmed features), read in ragged batches so that the per-example cost of leaving
TensorFlow stays small. `start` skips that many examples, which is how a saved position is resumed.
"""
import importlib
import importlib.util
import pathlib
import pkgutil
import sys
from typing import Iterable, List, Mapping, Optional, Tuple

import numpy as np
import seqio
import tensorflow as tf

from flan.data import names as names_lib

_READ_BATCH = 256


def _import(module: str) -> None:
  try:
    if module.endswith(".py"):  # a file path: import it under its file name
      path = pathlib.Path(module)
      spec = importlib.util.spec_from_file_location(path.stem, path)
      if spec is None or not path.is_file():
        raise ImportError(f"no Python file {module!r}")
      loaded = importlib.util.module_from_spec(spec)
      sys.modules[spec.name] = loaded
      spec.loader.exec_module(loaded)
    else:
      importlib.import_module(module)
  except ImportError:
    raise
  except Exception as error:  # registration code failing at import: name the module
    raise ImportError(f"importing {module!r} failed: {type(error).__name__}: {error}") from error


def import_registrations(extra_modules: Iterable[str] = ()) -> None:
  """Imports every module of flan.mixtures and the extra modules (dotted names or .py paths)."""
  try:
    package = importlib.import_module("flan.mixtures")
  except ImportError:
    package = None
  if package is not None and hasattr(package, "__path__"):
    for info in pkgutil.iter_modules(package.__path__):
      _import(f"flan.mixtures.{info.name}")
  for module in extra_modules:
    _import(module)


def registered_names() -> List[str]:
  return sorted(set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names()))


def get_provider(name: str) -> seqio.DatasetProviderBase:
  """The registered task or mixture `name`; unknown names list the closest registered names."""
  if name not in registered_names():
    import_registrations()
  return names_lib.get_task_or_mixture(name)


def token_dataset(provider: seqio.DatasetProviderBase, *, split: str,
                  feature_lengths: Mapping[str, int], seed: int, shuffle: bool, repeat: bool,
                  shard_index: int, num_shards: int, start: int = 0) -> tf.data.Dataset:
  """Batches of (inputs values, inputs lengths, targets values, targets lengths), int32/int64."""
  shard_info = seqio.ShardInfo(shard_index, num_shards) if num_shards > 1 else None
  ds = provider.get_dataset(
      sequence_length=dict(feature_lengths), split=split, use_cached=False, shuffle=shuffle,
      seed=seed, shard_info=shard_info, num_epochs=None if repeat else 1,
      trim_output_features=False)
  for key in ("inputs", "targets"):
    if key not in ds.element_spec:
      raise ValueError(f"{provider.name!r} has no {key!r} feature (it has "
                       f"{sorted(ds.element_spec)}); batches need tokenized inputs and targets")
  ds = ds.map(lambda ex: {"inputs": tf.cast(ex["inputs"], tf.int32),
                          "targets": tf.cast(ex["targets"], tf.int32)},
              num_parallel_calls=tf.data.AUTOTUNE)
  if start:
    ds = ds.skip(start)
  ds = ds.ragged_batch(_READ_BATCH)
  ds = ds.map(lambda b: (b["inputs"].flat_values, b["inputs"].row_lengths(),
                         b["targets"].flat_values, b["targets"].row_lengths()))
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


class ExampleReader:
  """Reads numpy examples from `token_dataset` in requested counts."""

  def __init__(self, dataset: tf.data.Dataset):
    self._batches = dataset.as_numpy_iterator()
    self._pending: List[Tuple[np.ndarray, np.ndarray]] = []
    self._pos = 0
    self.exhausted = False

  def _refill(self) -> bool:
    try:
      in_values, in_lengths, tg_values, tg_lengths = next(self._batches)
    except StopIteration:
      self.exhausted = True
      return False
    inputs = np.split(in_values, np.cumsum(in_lengths)[:-1])
    targets = np.split(tg_values, np.cumsum(tg_lengths)[:-1])
    self._pending = self._pending[self._pos:] + list(zip(inputs, targets))
    self._pos = 0
    return True

  def read(self, count: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Up to `count` next examples (fewer only at the end of a finite stream)."""
    while len(self._pending) - self._pos < count and not self.exhausted:
      self._refill()
    out = self._pending[self._pos:self._pos + count]
    self._pos += len(out)
    return out


def _truncate(tokens: np.ndarray, length: int, eos_id: Optional[int]) -> np.ndarray:
  """The first `length` tokens; an example that ended with EOS still ends with it (as seqio's
  append_eos_after_trim does)."""
  if eos_id is not None and length > 0 and tokens[-1] == eos_id:
    return np.concatenate([tokens[:length - 1], tokens[-1:]])
  return tokens[:length]


def fit_to_lengths(examples: List[Tuple[np.ndarray, np.ndarray]], lengths: Mapping[str, int],
                   overlength: str, counts: Optional[dict] = None, eos_id: Optional[int] = 1):
  """Truncates (or drops) over-length examples and counts what it did; returns kept examples.

  eos_id: the vocabulary's end-of-sequence id (1 for the T5 SentencePiece vocabularies); a truncated
  feature that ended with it keeps it as its last token. None truncates plainly.
  """
  if overlength not in ("truncate", "drop"):
    raise ValueError(f"overlength must be 'truncate' or 'drop', got {overlength!r}")
  counts = {} if counts is None else counts
  max_in, max_tg = lengths["inputs"], lengths["targets"]
  kept = []
  for inputs, targets in examples:
    long_in = len(inputs) > max_in
    long_tg = len(targets) > max_tg
    if long_in or long_tg:
      if overlength == "drop":
        counts["examples_dropped"] = counts.get("examples_dropped", 0) + 1
        continue
      if long_in:
        counts["inputs_truncated"] = counts.get("inputs_truncated", 0) + 1
        counts["inputs_tokens_cut"] = counts.get("inputs_tokens_cut", 0) + len(inputs) - max_in
        inputs = _truncate(inputs, max_in, eos_id)
      if long_tg:
        counts["targets_truncated"] = counts.get("targets_truncated", 0) + 1
        counts["targets_tokens_cut"] = counts.get("targets_tokens_cut", 0) + len(targets) - max_tg
        targets = _truncate(targets, max_tg, eos_id)
    kept.append((inputs, targets))
  return kept, counts
