"""Opt-in removal of training examples that overlap the evaluation benchmarks.

  flan-train ... --gin.flan.data.decontaminate.index_path="'/data/contamination_index.npz'"

The index is the one `flan-data contamination ... --index_out PATH` writes. `filter_overlapping` is a seqio
preprocessor for the rendered text (features `inputs` and `targets`, before tokenizing): it drops every
example whose text (inputs, a line break, targets; the same text the contamination scan reads) shares an
n-gram with any evaluation item, so an example the scan reports is exactly an example removed here. With
no index_path bound it returns the dataset unchanged.

`dropped_counts()` returns, per dataset, the examples checked and dropped in this process so far. The
counts follow the input pipeline, which reads ahead of the batches a trainer has taken.
"""
import threading
from typing import Dict, Optional

import gin
import numpy as np
import tensorflow as tf

from flan.data import contamination_index
from flan.data import contamination_ngrams as ngrams

FILTER_BATCH = 64

_lock = threading.Lock()
_counts: Dict[str, Dict[str, int]] = {}
_indexes: Dict[str, contamination_index.Index] = {}
_local = threading.local()


@gin.configurable("decontaminate", module="flan.data")
def configured_index_path(index_path: Optional[str] = None) -> Optional[str]:
  """The gin binding flan.data.decontaminate.index_path (None: no removal)."""
  return index_path


def load_index(path: str) -> contamination_index.Index:
  """The index at `path`, loaded once per process."""
  with _lock:
    if path not in _indexes:
      _indexes[path] = contamination_index.Index.load(path)
    return _indexes[path]


def _hasher() -> ngrams.Hasher:
  if not hasattr(_local, "hasher"):  # one per tf.data thread: a Hasher grows arrays as it goes
    _local.hasher = ngrams.Hasher()
  return _local.hasher


def _text(value) -> str:
  return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def overlapping(index: contamination_index.Index, inputs, targets) -> np.ndarray:
  """Boolean mask over examples: True where inputs + "\\n" + targets shares a gram with the index."""
  texts = [f"{_text(i)}\n{_text(t)}" for i, t in zip(inputs, targets)]
  mask = np.zeros(len(texts), bool)
  mask[ngrams.overlapping_texts(_hasher(), texts, index.gram_sets)] = True
  return mask


def _count(dataset_name: str, checked: int, dropped: int) -> None:
  with _lock:
    entry = _counts.setdefault(dataset_name, {"checked": 0, "dropped": 0})
    entry["checked"] += checked
    entry["dropped"] += dropped


def filter_overlapping(dataset: tf.data.Dataset, *, dataset_name: str,
                       index_path: Optional[str] = None) -> tf.data.Dataset:
  """seqio preprocessor: drops examples overlapping the index (index_path, else the gin binding)."""
  path = index_path or configured_index_path()
  if not path:
    return dataset
  index = load_index(path)
  for key in ("inputs", "targets"):
    if key not in dataset.element_spec or dataset.element_spec[key].dtype != tf.string:
      raise ValueError(f"decontamination of {dataset_name!r} needs the rendered text features inputs and "
                       f"targets (strings, before tokenizing); the examples have {sorted(dataset.element_spec)}")

  def keep_mask(inputs, targets):
    hit = overlapping(index, inputs, targets)
    _count(dataset_name, len(hit), int(hit.sum()))
    return ~hit

  def mark(batch):
    keep = tf.numpy_function(keep_mask, [batch["inputs"], batch["targets"]], tf.bool, stateful=False)
    keep.set_shape(batch["inputs"].shape)
    return batch, keep

  if all(spec.shape.rank == 0 for spec in dataset.element_spec.values()):
    marked = dataset.batch(FILTER_BATCH).map(mark).unbatch()
  else:  # features of varying shape cannot be batched: one example at a time
    marked = dataset.map(lambda ex: mark({k: tf.expand_dims(v, 0) if k in ("inputs", "targets") else v
                                          for k, v in ex.items()}))
    marked = marked.map(lambda ex, keep: ({k: v[0] if k in ("inputs", "targets") else v
                                           for k, v in ex.items()}, keep[0]))
  return marked.filter(lambda example, keep: keep).map(lambda example, keep: example)


def dropped_counts() -> Dict[str, Dict[str, int]]:
  """{dataset: {"checked": examples seen by the filter, "dropped": examples removed}} of this process."""
  with _lock:
    return {name: dict(entry) for name, entry in sorted(_counts.items())}


def reset_counts() -> None:
  with _lock:
    _counts.clear()
