"""Which train examples serve as few-shot exemplars.

Exemplars are a seeded uniform sample of a shuffled read of the train split (up to a scan limit), not
its head: a sorted split (by label, topic or source) would otherwise give every prompt exemplars of
one kind.
Datasets whose exemplars must share a field with the query (e.g. the NIv2 task name, since the
instruction defines the task) keep a bounded number of examples of every group instead.
"""
import random
from typing import Iterable

import numpy as np
import tensorflow as tf


def sample_positions(population: int, size: int, seed: int) -> np.ndarray:
  """`size` distinct positions in [0, population), uniformly chosen and sorted (all when fewer)."""
  if population < 1 or size < 1:
    raise ValueError(f"cannot sample {size} exemplar positions from a split of {population} examples")
  if size >= population:
    return np.arange(population, dtype=np.int64)
  return np.array(sorted(random.Random(seed).sample(range(population), size)), dtype=np.int64)


def take_positions(dataset: tf.data.Dataset, positions: np.ndarray) -> tf.data.Dataset:
  """The examples of `dataset` at the given sorted positions (the stream stops after the last one)."""
  wanted = tf.constant(positions, tf.int64)
  selected = dataset.take(int(positions[-1]) + 1).enumerate().filter(
      lambda position, example: tf.reduce_any(tf.equal(wanted, position)))
  return selected.map(lambda position, example: example)


def reservoir(examples: Iterable, size: int, seed: int) -> list:
  """A uniform sample of `size` items of a stream of unknown length, in stream order (Algorithm R)."""
  rng = random.Random(seed)
  kept: list[tuple[int, object]] = []
  for position, example in enumerate(examples):
    if position < size:
      kept.append((position, example))
    else:
      slot = rng.randrange(position + 1)
      if slot < size:
        kept[slot] = (position, example)
  return [example for _, example in sorted(kept, key=lambda pair: pair[0])]


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

