"""Fixed-shape numpy batches of a registered seqio task or mixture, per host, resumable.

The example stream (flan.data.examples) is deterministic given the seed and this host's shard.
It is cut into chunks of consecutive examples; each chunk is packed on its own (our best-fit
packer, seqio's packer, or one example per row), so the rows of a chunk depend only on the chunk.
The saved position is therefore two numbers: examples before the current chunk and rows already
taken from it. Restoring skips that many examples in the source, repacks the chunk and drops the
rows already taken, so a resumed run sees exactly the rows it would have seen.

`converter` chooses the model features: "encdec" (flan.data.packing, seqio's EncDecFeatureConverter
names) or, for decoder-only models, "decoder" / "prefix_lm" (flan.data.decoder_features: one stream
`inputs EOS targets EOS` per example in rows of inputs + targets length).
"""
import atexit
import collections
import dataclasses
import gc
import weakref
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional

import numpy as np
import seqio
import tensorflow as tf

from flan import errors
from flan.data import decoder_features
from flan.data import decontaminate
from flan.data import examples as examples_lib
from flan.data import packing

STATE_FORMAT = "flan.data.batches/1"
PACKERS = ("flan", "seqio")
CONVERTERS = ("encdec",) + decoder_features.CONVERTERS
# Config fields added after states were first saved, with the value those older states mean.
_ADDED_CONFIG_FIELDS = {"converter": "encdec", "bos_id": 0}
EXAMPLE_COUNTERS = ("examples_read", "examples_dropped", "inputs_truncated", "targets_truncated",
                    "inputs_tokens_cut", "targets_tokens_cut")
ROW_COUNTERS = ("batches", "rows", "padding_rows", "encoder_tokens", "decoder_tokens")


@dataclasses.dataclass(frozen=True)
class BatchConfig:
  """Everything that determines the stream of batches (saved with the state and checked on restore)."""
  name: str
  split: str
  feature_lengths: Mapping[str, int]
  batch_size: int
  pack: bool
  packer: str
  seed: int
  shard_index: int
  num_shards: int
  shuffle: bool
  repeat: bool
  overlength: str
  chunk_size: int
  converter: str = "encdec"
  bos_id: Optional[int] = 0

  def validate(self):
    if set(self.feature_lengths) != {"inputs", "targets"}:
      raise ValueError(f"feature_lengths must have keys 'inputs' and 'targets', got "
                       f"{dict(self.feature_lengths)}")
    for key, value in self.feature_lengths.items():
      if not isinstance(value, int) or value <= 0:
        raise ValueError(f"feature_lengths[{key!r}] must be a positive int, got {value!r}")
    if self.packer not in PACKERS:
      raise ValueError(f"packer must be one of {PACKERS}, got {self.packer!r}")
    if self.overlength not in ("truncate", "drop"):
      raise ValueError(f"overlength must be 'truncate' or 'drop', got {self.overlength!r}")
    if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
      raise ValueError(f"shard_index {self.shard_index} is not in [0, num_shards={self.num_shards})")
    if self.batch_size < 1 or self.batch_size % self.num_shards:
      raise ValueError(f"batch_size {self.batch_size} must be a positive multiple of num_shards "
                       f"{self.num_shards} (each host takes batch_size // num_shards rows)")
    if self.chunk_size < 1:
      raise ValueError(f"chunk_size must be positive, got {self.chunk_size}")
    if self.converter not in CONVERTERS:
      raise errors.ConfigError(f"converter must be one of {CONVERTERS}, got {self.converter!r}")
    if self.bos_id is not None and (not isinstance(self.bos_id, int) or self.bos_id < 0):
      raise errors.ConfigError(f"bos_id must be a non-negative int or None (no start token), got "
                               f"{self.bos_id!r}")
    if self.bos_id != 0 and not self.decoder_only:
      raise errors.ConfigError(f"bos_id={self.bos_id} applies to the decoder-only converters "
                               f"{decoder_features.CONVERTERS}, not converter='encdec'")
    if self.bos_id is None and self.pack and self.packer == "seqio":
      raise errors.ConfigError("packer='seqio' has no bos_id=None (no start token) mode; use packer='flan'")

  @property
  def decoder_only(self) -> bool:
    return self.converter != "encdec"

  def model_feature_lengths(self) -> Dict[str, int]:
    """Length of every model feature of a batch."""
    if self.decoder_only:
      length = decoder_features.row_length(self.feature_lengths)
      return {k: length for k in decoder_features.feature_names(self.converter, self.pack)}
    names = packing.PACKED_FEATURES if self.pack else packing.UNPACKED_FEATURES
    return {k: self.feature_lengths["targets" if k.startswith("decoder") else "inputs"] for k in names}

  @property
  def rows_per_host(self) -> int:
    return self.batch_size // self.num_shards

  @property
  def examples_per_chunk(self) -> int:
    # seqio packs windows of max(feature_lengths) consecutive examples; one chunk = one window.
    if self.pack and self.packer == "seqio":
      if self.decoder_only:
        return decoder_features.row_length(self.feature_lengths)
      return max(self.feature_lengths.values())
    return self.chunk_size

  def to_json(self) -> Dict[str, Any]:
    out = dataclasses.asdict(self)
    out["feature_lengths"] = dict(self.feature_lengths)
    return out


class _Chunk(NamedTuple):
  consumed: int                 # source examples the chunk covers (kept or dropped)
  rows: Dict[str, np.ndarray]   # model features [rows, length]
  counts: Dict[str, int]        # example counters of the chunk


def _row_count(rows: Mapping[str, np.ndarray]) -> int:
  return next(iter(rows.values())).shape[0]


def _fit(raw, config: BatchConfig, eos_id: Optional[int], counts: Optional[dict] = None):
  """fit_to_lengths: a truncated feature keeps its final EOS (the vocabulary's), as seqio's
  append_eos_after_trim does; in a decoder-only stream the inputs' EOS is the separator."""
  return examples_lib.fit_to_lengths(raw, config.feature_lengths, config.overlength, counts, eos_id=eos_id)


def _pack_chunk(inputs, targets, config: BatchConfig, position: int) -> Dict[str, np.ndarray]:
  lengths = config.feature_lengths
  seed = (config.seed, config.shard_index, position)
  if config.decoder_only:
    length = decoder_features.row_length(lengths)
    if config.pack:
      return decoder_features.pack_decoder_examples(inputs, targets, length, converter=config.converter,
                                                    bos_id=config.bos_id, seed=seed)
    return decoder_features.pad_decoder_examples(inputs, targets, length, converter=config.converter,
                                                 bos_id=config.bos_id)
  if config.pack:
    return packing.pack_examples(inputs, targets, lengths, seed=seed)
  return packing.pad_examples(inputs, targets, lengths)


def _flan_chunks(reader: examples_lib.ExampleReader, config: BatchConfig, start: int,
                 eos_id: Optional[int]) -> Iterator[_Chunk]:
  position = start
  while True:
    raw = reader.read(config.examples_per_chunk)
    if not raw:
      return
    kept, counts = _fit(raw, config, eos_id)
    counts["examples_read"] = len(raw)
    rows = _pack_chunk([x for x, _ in kept], [y for _, y in kept], config, position)
    yield _Chunk(len(raw), rows, counts)
    position += len(raw)
    if len(raw) < config.examples_per_chunk:
      return


def _seqio_window_rows(config: BatchConfig):
  lengths = config.feature_lengths
  if config.decoder_only:  # seqio's packed PrefixLM features; "decoder" drops the causal-attention mask
    converter = seqio.DecoderFeatureConverter(pack=True, bos_id=config.bos_id)
  else:
    converter = seqio.EncDecFeatureConverter(pack=True)
  window = config.examples_per_chunk

  def window_rows(in_values, in_lengths, tg_values, tg_lengths):
    ds = tf.data.Dataset.from_tensor_slices({
        "inputs": tf.RaggedTensor.from_row_lengths(in_values, in_lengths),
        "targets": tf.RaggedTensor.from_row_lengths(tg_values, tg_lengths)})
    return converter(ds, dict(lengths)).batch(window)  # all rows of the window in one element
  return window_rows


def _seqio_chunks(reader: examples_lib.ExampleReader, config: BatchConfig,
                  eos_id: Optional[int]) -> Iterator[_Chunk]:
  """seqio's packer, one window of examples at a time, through one long-lived tf.data pipeline."""
  records = collections.deque()  # (consumed, counts, has_rows) per window, in order
  shapes = config.model_feature_lengths()

  def windows():
    while True:
      consumed, counts, kept = 0, {}, []
      while not kept:  # a window whose examples were all dropped merges into the next one
        raw = reader.read(config.examples_per_chunk)
        if not raw:
          break
        consumed += len(raw)
        kept, counts = _fit(raw, config, eos_id, counts)
      if not consumed:
        return
      counts["examples_read"] = consumed
      records.append((consumed, counts, bool(kept)))
      if not kept:
        return
      yield (np.concatenate([x for x, _ in kept]).astype(np.int32),
             np.array([len(x) for x, _ in kept], np.int64),
             np.concatenate([y for _, y in kept]).astype(np.int32),
             np.array([len(y) for _, y in kept], np.int64))

  signature = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64),
               tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64))
  ds = tf.data.Dataset.from_generator(windows, output_signature=signature)
  ds = ds.flat_map(_seqio_window_rows(config))
  for rows in ds.as_numpy_iterator():
    consumed, counts, _ = records.popleft()
    yield _Chunk(consumed, {k: rows[k].astype(np.int32) for k in shapes}, counts)
  while records:  # a last window with every example dropped
    consumed, counts, _ = records.popleft()
    yield _Chunk(consumed, {k: np.zeros((0, length), np.int32) for k, length in shapes.items()}, counts)


_LIVE_ITERATORS = weakref.WeakSet()


@atexit.register
def _close_live_iterators():
  # tf.data threads still running Python preprocessing (tf.numpy_function) while the interpreter
  # shuts down can abort the process; stop them first.
  for iterator in list(_LIVE_ITERATORS):
    iterator.close()
  gc.collect()


class BatchIterator:
  """Iterator of this host's fixed-shape numpy batches; get_state()/set_state() resume exactly."""

  def __init__(self, config: BatchConfig):
    config.validate()
    self.config = config
    self._provider = examples_lib.get_provider(config.name)
    if config.decoder_only:
      _check_eos_separator(self._provider, config.converter)
    self._chunks = None
    self._restart(position=0, rows_taken=0, counters={})
    _LIVE_ITERATORS.add(self)

  def close(self) -> None:
    """Stops the input pipeline: next() then raises StopIteration; get_state() still works and
    set_state() starts again."""
    self._closed = True
    if self._chunks is not None:
      self._chunks.close()
      self._chunks = None

  def _restart(self, position: int, rows_taken: int, counters: Mapping[str, int]):
    self.close()
    c = self.config
    dataset = examples_lib.token_dataset(
        self._provider, split=c.split, feature_lengths=c.feature_lengths, seed=c.seed,
        shuffle=c.shuffle, repeat=c.repeat, shard_index=c.shard_index, num_shards=c.num_shards,
        start=position)
    reader = examples_lib.ExampleReader(dataset)
    eos_id = self._provider.output_features["targets"].vocabulary.eos_id
    if c.pack and c.packer == "seqio":
      self._chunks = _seqio_chunks(reader, c, eos_id)
    else:
      self._chunks = _flan_chunks(reader, c, position, eos_id)
    self._counters = collections.Counter({k: int(counters.get(k, 0))
                                          for k in EXAMPLE_COUNTERS + ROW_COUNTERS})
    self._chunk_start = position
    self._chunk: Optional[_Chunk] = None
    self._cursor = 0
    self._closed = False
    if rows_taken:
      if not self._next_chunk() or rows_taken > _row_count(self._chunk.rows):
        raise ValueError(f"saved state takes {rows_taken} rows from the chunk at example "
                         f"{position}, but that chunk has fewer rows; the data changed since")
      self._cursor = rows_taken

  def _next_chunk(self) -> bool:
    if self._chunk is not None:
      self._chunk_start += self._chunk.consumed
    self._chunk = next(self._chunks, None) if self._chunks is not None else None
    self._cursor = 0
    if self._chunk is None:
      return False
    self._counters.update(self._chunk.counts)
    return True

  def __iter__(self):
    return self

  def __next__(self) -> Dict[str, np.ndarray]:
    if self._closed:
      raise StopIteration
    need = self.config.rows_per_host
    parts: List[Dict[str, np.ndarray]] = []
    while need:
      if self._chunk is None or self._cursor == _row_count(self._chunk.rows):
        if not self._next_chunk():
          break
        continue
      take = min(need, _row_count(self._chunk.rows) - self._cursor)
      parts.append({k: v[self._cursor:self._cursor + take] for k, v in self._chunk.rows.items()})
      self._cursor += take
      need -= take
    if not parts:
      raise StopIteration
    batch = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if need:  # end of a finite stream: fill the fixed shape with all-padding rows (loss weight 0)
      batch = {k: np.concatenate([v, np.zeros((need,) + v.shape[1:], v.dtype)])
               for k, v in batch.items()}
      self._counters["padding_rows"] += need
    self._counters["batches"] += 1
    self._counters["rows"] += self.config.rows_per_host
    if self.config.decoder_only:
      self._counters["decoder_tokens"] += decoder_features.real_token_count(batch)
    else:
      self._counters["encoder_tokens"] += int(np.count_nonzero(batch["encoder_input_tokens"]))
      self._counters["decoder_tokens"] += int(np.count_nonzero(batch["decoder_target_tokens"]))
    return batch

  def get_state(self) -> Dict[str, Any]:
    """JSON-serializable position (plus the counters, so that stats() continue across a resume)."""
    position, rows_taken = self._chunk_start, self._cursor
    counters = dict(self._counters)
    if self._chunk is not None:
      if self._cursor == _row_count(self._chunk.rows):
        position, rows_taken = position + self._chunk.consumed, 0
      else:  # the chunk is re-read on restore and counted again then
        for key, value in self._chunk.counts.items():
          counters[key] -= value
    return {"format": STATE_FORMAT, "config": self.config.to_json(),
            "position": {"examples_before_chunk": int(position),
                         "rows_taken_from_chunk": int(rows_taken)},
            "counters": {k: int(v) for k, v in counters.items()}}

  def set_state(self, state: Mapping[str, Any]) -> None:
    if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
      raise ValueError(f"not a batch iterator state of format {STATE_FORMAT!r}: "
                       f"format={state.get('format') if isinstance(state, Mapping) else state!r}")
    saved, ours = dict(state["config"]), self.config.to_json()
    for key, value in _ADDED_CONFIG_FIELDS.items():
      saved.setdefault(key, value)
    for key in ours:
      if saved.get(key) != ours[key]:
        raise ValueError(f"saved batch iterator state has {key}={saved.get(key)!r} but this "
                         f"iterator has {key}={ours[key]!r}; it would not continue the same stream")
    self._restart(position=int(state["position"]["examples_before_chunk"]),
                  rows_taken=int(state["position"]["rows_taken_from_chunk"]),
                  counters=state.get("counters", {}))

  def stats(self) -> Dict[str, Any]:
    """Counters: examples read/truncated/dropped, rows and real tokens emitted, fill fractions.
    Decoder-only batches count every real stream token (inputs and targets) as decoder_tokens.
    "decontamination": examples checked / dropped per dataset by flan.data.decontaminate when its index is
    configured (process-wide, and counted as the input pipeline reads, read-ahead included)."""
    out: Dict[str, Any] = {k: int(self._counters[k]) for k in EXAMPLE_COUNTERS + ROW_COUNTERS}
    out["decontamination"] = decontaminate.dropped_counts()
    rows = max(out["rows"], 1)
    if self.config.decoder_only:
      out["decoder_fill"] = out["decoder_tokens"] / (
          rows * decoder_features.row_length(self.config.feature_lengths))
      return out
    out["encoder_fill"] = out["encoder_tokens"] / (rows * self.config.feature_lengths["inputs"])
    out["decoder_fill"] = out["decoder_tokens"] / (rows * self.config.feature_lengths["targets"])
    return out


def _check_eos_separator(provider: seqio.DatasetProviderBase, converter: str) -> None:
  """Decoder-only streams need both features to end in EOS: the input's EOS is the separator."""
  features = provider.output_features
  for key in ("inputs", "targets"):
    feature = features.get(key)
    if feature is None or not feature.add_eos:
      state = "has no such feature" if feature is None else "has add_eos=False"
      raise errors.ConfigError(
          f"converter={converter!r} needs {provider.name!r}'s {key!r} feature to end in EOS "
          f"(seqio.Feature(add_eos=True)), but it {state}; the EOS after the inputs separates them from "
          "the targets in the one decoder stream")


def _default_shard(shard_index: Optional[int], num_shards: Optional[int]):
  if shard_index is not None and num_shards is not None:
    return shard_index, num_shards
  if shard_index is not None or num_shards is not None:
    raise ValueError("give both shard_index and num_shards, or neither (then jax's process "
                     "index and count are used)")
  import jax  # pylint: disable=import-outside-toplevel
  return jax.process_index(), jax.process_count()


def make_batch_iterator(name: str, *, split: str = "train",
                        feature_lengths: Optional[Mapping[str, int]] = None, batch_size: int,
                        pack: bool = True, packer: str = "flan", seed: int = 0,
                        shard_index: Optional[int] = None, num_shards: Optional[int] = None,
                        shuffle: bool = True, repeat: bool = True, overlength: str = "truncate",
                        chunk_size: int = 2048, converter: str = "encdec",
                        bos_id: Optional[int] = 0) -> BatchIterator:
  """Batches of the registered task or mixture `name` for this host (see CONTRACTS.md, Batches).

  overlength: "truncate" (cut to feature_lengths) or "drop"; either way counted in stats().
  chunk_size: examples packed together by our packer (more fills rows better, costs memory).
  converter: "encdec" (encoder-decoder features), or "decoder" / "prefix_lm" for decoder-only models:
    one stream per example in rows of inputs + targets tokens (flan.data.decoder_features), with
    bos_id as the first token the model reads of each example (None: no start token).
  """
  shard_index, num_shards = _default_shard(shard_index, num_shards)
  lengths = dict(feature_lengths or {"inputs": 2048, "targets": 512})
  return BatchIterator(BatchConfig(
      name=name, split=split, feature_lengths=lengths, batch_size=batch_size, pack=pack,
      packer=packer, seed=seed, shard_index=shard_index, num_shards=num_shards, shuffle=shuffle,
      repeat=repeat, overlength=overlength, chunk_size=chunk_size, converter=converter, bos_id=bos_id))
