"""Measurements of a task or mixture: token lengths, truncation, packing fill and speed.

Used by `flan-data stats` and the benchmarks in bench/. Both packers are run on the very same
examples, so their fill fractions compare like for like.
"""
import dataclasses
import time
from typing import Dict, List, Mapping, Tuple

import numpy as np
import seqio
import tensorflow as tf

from flan.data import batches as batches_lib
from flan.data import examples as examples_lib
from flan.data import packing

PERCENTILES = (50, 90, 95, 99, 100)
Example = Tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass
class ReadResult:
  examples: List[Example]
  start_seconds: float  # building the pipeline and producing the first example
  read_seconds: float   # producing the rest

  @property
  def examples_per_second(self) -> float:
    rest = len(self.examples) - 1
    return rest / self.read_seconds if rest > 0 and self.read_seconds else float("nan")


def read_examples(name: str, *, split: str, feature_lengths: Mapping[str, int], count: int,
                  seed: int = 0) -> ReadResult:
  """Up to `count` untruncated examples of `name` (fewer when a task runs out), timed."""
  provider = examples_lib.get_provider(name)
  # A mixture stops when its first task runs out unless repeated; a task is read once through.
  repeat = isinstance(provider, seqio.Mixture)
  start = time.perf_counter()
  dataset = examples_lib.token_dataset(
      provider, split=split, feature_lengths=feature_lengths, seed=seed, shuffle=True,
      repeat=repeat, shard_index=0, num_shards=1)
  reader = examples_lib.ExampleReader(dataset)
  examples = reader.read(1)
  started = time.perf_counter()
  examples += reader.read(count - 1) if count > 1 else []
  return ReadResult(examples, started - start, time.perf_counter() - started)


def length_summary(examples: List[Example], feature_lengths: Mapping[str, int]) -> Dict[str, dict]:
  """Per feature: mean, percentiles and how many examples are longer than the row length."""
  out = {}
  for index, feature in enumerate(("inputs", "targets")):
    lengths = np.array([len(ex[index]) for ex in examples], np.int64)
    row = {"mean": float(lengths.mean()) if lengths.size else 0.0}
    for p in PERCENTILES:
      row[f"p{p}"] = float(np.percentile(lengths, p)) if lengths.size else 0.0
    row["over_length"] = int(np.sum(lengths > feature_lengths[feature]))
    out[feature] = row
  return out


@dataclasses.dataclass
class PackResult:
  packer: str
  examples: int
  rows: int
  inputs_fill: float   # non-padding fraction of encoder_input_tokens
  targets_fill: float  # non-padding fraction of decoder_target_tokens
  seconds: float

  @property
  def examples_per_second(self) -> float:
    return self.examples / self.seconds if self.seconds else float("inf")


def _result(packer, examples, rows, real_in, real_tg, lengths, seconds) -> PackResult:
  return PackResult(packer, examples, rows, real_in / max(rows * lengths["inputs"], 1),
                    real_tg / max(rows * lengths["targets"], 1), seconds)


def pack_with_flan(examples: List[Example], feature_lengths: Mapping[str, int], *,
                   chunk_size: int = 2048, seed: int = 0) -> PackResult:
  kept, _ = examples_lib.fit_to_lengths(examples, feature_lengths, "truncate")
  start = time.perf_counter()
  rows = real_in = real_tg = 0
  for first in range(0, len(kept), chunk_size):
    chunk = kept[first:first + chunk_size]
    feats = packing.pack_examples([x for x, _ in chunk], [y for _, y in chunk], feature_lengths,
                                  seed=(seed, first))
    rows += feats["encoder_input_tokens"].shape[0]
    real_in += int(np.count_nonzero(feats["encoder_input_tokens"]))
    real_tg += int(np.count_nonzero(feats["decoder_target_tokens"]))
  return _result("flan", len(kept), rows, real_in, real_tg, feature_lengths,
                 time.perf_counter() - start)


def pack_with_seqio(examples: List[Example], feature_lengths: Mapping[str, int]) -> PackResult:
  """seqio.EncDecFeatureConverter(pack=True) over the same examples (its windows of 2048)."""
  kept, _ = examples_lib.fit_to_lengths(examples, feature_lengths, "truncate")
  start = time.perf_counter()
  ragged = {
      key: tf.RaggedTensor.from_row_lengths(
          np.concatenate([ex[i] for ex in kept]).astype(np.int32) if kept else
          np.zeros(0, np.int32), np.array([len(ex[i]) for ex in kept], np.int64))
      for i, key in enumerate(("inputs", "targets"))}
  dataset = seqio.EncDecFeatureConverter(pack=True)(
      tf.data.Dataset.from_tensor_slices(ragged), dict(feature_lengths))
  rows = real_in = real_tg = 0
  for batch in dataset.batch(256).as_numpy_iterator():
    rows += batch["encoder_input_tokens"].shape[0]
    real_in += int(np.count_nonzero(batch["encoder_input_tokens"]))
    real_tg += int(np.count_nonzero(batch["decoder_target_tokens"]))
  return _result("seqio", len(kept), rows, real_in, real_tg, feature_lengths,
                 time.perf_counter() - start)


def draw_flan_examples(iterator: batches_lib.BatchIterator, count: int) -> int:
  """Draws batches until at least `count` more examples were read; returns how many were."""
  first = iterator.stats()["examples_read"]
  while iterator.stats()["examples_read"] - first < count:
    next(iterator)
  return iterator.stats()["examples_read"] - first


def seqio_packed_batches(name: str, *, split: str, feature_lengths: Mapping[str, int],
                         seed: int = 0, batch_size: int = 8):
  """The usual t5x input pipeline: seqio.get_dataset + EncDecFeatureConverter(pack=True)."""
  provider = examples_lib.get_provider(name)
  dataset = seqio.get_dataset(
      provider.name, task_feature_lengths=dict(feature_lengths), dataset_split=split,
      shuffle=True, num_epochs=None, seed=seed, use_cached=False,
      feature_converter=seqio.EncDecFeatureConverter(pack=True))
  return dataset.batch(batch_size).as_numpy_iterator()


def draw_seqio_examples(batches, count: int) -> int:
  """Draws packed batches until they hold at least `count` examples (segments); returns how many."""
  examples = 0
  while examples < count:
    batch = next(batches)
    examples += int(np.sum((batch["decoder_positions"] == 0) & (batch["decoder_segment_ids"] > 0)))
  return examples
