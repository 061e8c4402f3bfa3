"""Exemplar pools grouped by a field: a bounded number of train examples of every group.

Datasets whose few-shot exemplars must share a field with the query (e.g. the NIv2 task name, since
the instruction defines the task) cannot take the first examples of the split as their pool: most
groups would have none there. They keep the first examples of every group within a bounded scan.
"""
import tensorflow as tf


def first_per_group(dataset: tf.data.Dataset, field: str, per_group: int, scan_limit: int) -> tf.data.Dataset:
  """The first `per_group` examples of each value of `field` among the first `scan_limit` examples.

  The counts live in a hash table made here, so the returned dataset is meant to be iterated once.
  """
  if per_group < 1 or scan_limit < 1:
    raise ValueError(f"exemplars per group ({per_group}) and the scan limit ({scan_limit}) must be positive")
  counts = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0)

  def keep(example):
    group = example[field]
    seen = counts.lookup(group)
    with tf.control_dependencies([counts.insert(group, seen + 1)]):
      return seen < per_group

  return dataset.take(scan_limit).filter(keep)
