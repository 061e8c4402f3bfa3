"""Decoder-only model features: each example is one stream, `inputs targets`, packed into rows of one length.

The stream is the task's `inputs` followed by its `targets`, as seqio's PrefixLMFeatureConverter
concatenates them. Flan tasks append EOS to both features, so the stream is `inputs EOS targets EOS`:
the EOS after the inputs is the separator (flan.data.batches refuses tasks whose features do not
end in EOS). Row length = feature_lengths["inputs"] + feature_lengths["targets"] (2048 + 512 = 2560).

Features (seqio's names; int32 [rows, length]):
  decoder_target_tokens   the stream: inputs, then targets; 0 on padding.
  decoder_input_tokens    the stream shifted right by one inside each example, with `bos_id` at the
                          example's first position (seqio's bos_id; 0 by default, as T5X). A checkpoint
                          whose tokenizer starts every text with BOS (Llama: `<s>`) sets bos_id to it:
                          the model then reads `BOS inputs EOS targets`, as the checkpoint was trained.
                          bos_id=None is for tokenizers that add no start token (GPT-style, SmolLM): the
                          model reads the stream itself, `inputs EOS targets` without its last token,
                          and predicts it from the second token on (each example takes len - 1 slots).
  decoder_loss_weights    1 where the target tokens and their EOS are predicted; 0 elsewhere.
  decoder_segment_ids     (packed) 1, 2, ... per example in the row; 0 on padding.
  decoder_positions       (packed) 0, 1, ... restarting at each example; 0 on padding.
  decoder_causal_attention  (converter "prefix_lm" only) 1 on the positions the model reads as the
                          bidirectional prefix: the positions where the model reads the start token
                          and every input token including the separator EOS (positions 0 .. len(inputs)
                          of each example; 0 .. len(inputs) - 1 with bos_id=None). The last of them is
                          where the first target is predicted, as seqio's PrefixLMFeatureConverter and
                          Mesh TensorFlow mark it; 0 elsewhere.
Converter "decoder" (fully causal, the Flan-PaLM setup) emits no decoder_causal_attention, so a model
attends bidirectionally to a prefix exactly when the batch carries that feature.

Unpacked rows (one example per row, no segment ids or positions) equal seqio's
DecoderFeatureConverter(pack=False) output, including its whole-row shift (the last EOS also moves
into the first padding slot of decoder_input_tokens). Two deliberate differences from seqio, both
outside real data: loss weights are set by position (seqio tests token != 0, which differs only if a
token id 0 occurs inside an example), and packed padding reads 0 (seqio puts bos_id in the first
padding slot).

TensorFlow-free (numpy only): the trainer's synthetic source builds decoder batches from here.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from flan.data import packing

CONVERTERS = ("decoder", "prefix_lm")
PACKED_FEATURES = ("decoder_target_tokens", "decoder_input_tokens", "decoder_loss_weights",
                   "decoder_segment_ids", "decoder_positions")
UNPACKED_FEATURES = ("decoder_target_tokens", "decoder_input_tokens", "decoder_loss_weights")
CAUSAL_ATTENTION = "decoder_causal_attention"


def check_converter(converter: str) -> None:
  if converter not in CONVERTERS:
    raise ValueError(f"decoder-only converter must be one of {CONVERTERS}, got {converter!r}")


def feature_names(converter: str, pack: bool) -> Tuple[str, ...]:
  """The model features a batch of this converter carries, in a fixed order."""
  check_converter(converter)
  names = PACKED_FEATURES if pack else UNPACKED_FEATURES
  return names + ((CAUSAL_ATTENTION,) if converter == "prefix_lm" else ())


def row_length(feature_lengths: Dict[str, int]) -> int:
  """One stream per row: room for the longest inputs plus the longest targets (seqio's rule)."""
  return int(feature_lengths["inputs"]) + int(feature_lengths["targets"])


def stream_lengths(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                   bos_id: Optional[int]) -> List[int]:
  """Row slots each example takes: len(inputs) + len(targets), one less without a start token."""
  if len(inputs) != len(targets):
    raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
  drop = 1 if bos_id is None else 0
  lengths = [len(x) + len(y) - drop for x, y in zip(inputs, targets)]
  if drop and lengths and min(lengths) < 1:
    raise ValueError(f"example {int(np.argmin(lengths))} has fewer than 2 tokens; with bos_id=None the "
                     "model reads its first token and predicts from the second, so it needs 2")
  return lengths


def _streams(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], bos_id: Optional[int]):
  """Per example: (token read, token predicted, number of leading predictions that are inputs)."""
  stream_lengths(inputs, targets, bos_id)  # checks
  read, predicted, prefix = [], [], []
  for x, y in zip(inputs, targets):
    stream = np.concatenate([np.asarray(x, np.int32), np.asarray(y, np.int32)])
    if bos_id is None:
      read.append(stream[:-1])
      predicted.append(stream[1:])
      prefix.append(np.full(len(stream) - 1, len(x) - 1, np.int32))
    else:
      read.append(np.concatenate([np.array([bos_id], np.int32), stream[:-1]]))
      predicted.append(stream)
      prefix.append(np.full(len(stream), len(x), np.int32))
  return read, predicted, prefix


def rows_to_decoder_features(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                             rows: List[List[int]], length: int, *, converter: str = "decoder",
                             bos_id: Optional[int] = 0) -> Dict[str, np.ndarray]:
  """Packed features of `rows` (lists of example indices, written in that order) [len(rows), length]."""
  check_converter(converter)
  read, predicted, prefix = _streams(inputs, targets, bos_id)
  tokens, segments, positions = packing.scatter_rows(predicted, rows, length)
  fed, _, _ = packing.scatter_rows(read, rows, length)
  prefix, _, _ = packing.scatter_rows(prefix, rows, length)
  real = segments > 0
  features = {
      "decoder_target_tokens": tokens,
      "decoder_input_tokens": fed,
      "decoder_loss_weights": (real & (positions >= prefix)).astype(np.int32),
      "decoder_segment_ids": segments,
      "decoder_positions": positions,
  }
  if converter == "prefix_lm":
    features[CAUSAL_ATTENTION] = (real & (positions <= prefix)).astype(np.int32)
  return features


def pack_decoder_examples(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], length: int, *,
                          converter: str = "decoder", bos_id: Optional[int] = 0,
                          seed: Optional[Any] = 0) -> Dict[str, np.ndarray]:
  """Packs one chunk of examples into rows of `length` (best-fit decreasing over the stream lengths);
  `seed` (anything np.random.default_rng takes) shuffles the row order, None keeps it."""
  if len(inputs) != len(targets):
    raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
  rows = packing.assign_single_rows(stream_lengths(inputs, targets, bos_id), length)
  if seed is not None:
    permutation = np.random.default_rng(seed).permutation(len(rows))
    rows = [rows[j] for j in permutation]
  return rows_to_decoder_features(inputs, targets, rows, length, converter=converter, bos_id=bos_id)


def pad_decoder_examples(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], length: int, *,
                         converter: str = "decoder", bos_id: Optional[int] = 0) -> Dict[str, np.ndarray]:
  """One example per row, zero-padded: seqio's unpacked DecoderFeatureConverter features (bos_id=None,
  which seqio lacks: the packed features of one example per row, without segment ids and positions)."""
  packing.assign_single_rows(stream_lengths(inputs, targets, bos_id), length)  # checks that each fits
  features = rows_to_decoder_features(inputs, targets, [[i] for i in range(len(inputs))], length,
                                      converter=converter, bos_id=bos_id)
  if bos_id is not None:
    tokens = features["decoder_target_tokens"]
    shifted = np.zeros_like(tokens)  # seqio shifts the whole unpacked row
    shifted[:, 0] = bos_id
    shifted[:, 1:] = tokens[:, :-1]
    features["decoder_input_tokens"] = shifted
  return {k: features[k] for k in feature_names(converter, pack=False)}


def real_token_count(features: Dict[str, np.ndarray]) -> int:
  """Non-padding stream tokens of a batch (segment ids when packed, else non-zero targets as seqio)."""
  if "decoder_segment_ids" in features:
    return int(np.count_nonzero(features["decoder_segment_ids"]))
  return int(np.count_nonzero(features["decoder_target_tokens"]))


def synthetic_examples(rng: np.random.Generator, length: int, vocab_size: int, *, max_examples: int = 3,
                       fill_fraction: float = 0.9, eos_id: int = 1,
                       first_token: int = 2) -> List[Tuple[np.ndarray, np.ndarray]]:
  """Learnable examples for one row of `length`: inputs = n random tokens + EOS, targets = the same
  tokens reversed and each id + 1, + EOS. Between 1 and max_examples of them, fitting together."""
  if vocab_size < first_token + 2:
    raise ValueError(f"vocab_size {vocab_size} is too small for synthetic tokens")
  if length < 4:
    raise ValueError(f"row length {length} is too short for a synthetic example (needs 4)")
  count = int(rng.integers(1, max_examples + 1))
  budget = max(2, int(length * fill_fraction) // (2 * count))  # tokens before EOS, per feature
  out, used = [], 0
  for _ in range(count):
    n = int(rng.integers(1, budget))
    if used + 2 * (n + 1) > length:
      break
    tokens = rng.integers(first_token, vocab_size - 1, size=n)
    out.append((np.append(tokens, eos_id).astype(np.int32),
                np.append(tokens[::-1] + 1, eos_id).astype(np.int32)))
    used += 2 * (n + 1)
  return out


def synthetic_decoder_batch(*, seed: int, batch_index: int, first_row: int, rows: int, length: int,
                            vocab_size: int, converter: str = "decoder", pack: bool = True,
                            bos_id: Optional[int] = 0, max_examples_per_row: int = 3,
                            fill_fraction: float = 0.9, eos_id: int = 1) -> Dict[str, np.ndarray]:
  """`rows` rows of synthetic decoder-only features (numpy, no TensorFlow).

  Row r's examples come from np.random.default_rng([seed, batch_index, first_row + r]), so global
  row g of batch i is the same for any split of the batch over hosts (first_row = shard * rows).
  pack=False puts one example per row (seqio's unpacked features)."""
  check_converter(converter)
  per_row = []
  for r in range(rows):
    rng = np.random.default_rng([seed, batch_index, first_row + r])
    examples = synthetic_examples(rng, length, vocab_size, max_examples=max_examples_per_row if pack else 1,
                                  fill_fraction=fill_fraction, eos_id=eos_id)
    inputs = [x for x, _ in examples]
    targets = [y for _, y in examples]
    if pack:
      per_row.append(rows_to_decoder_features(inputs, targets, [list(range(len(examples)))], length,
                                              converter=converter, bos_id=bos_id))
    else:
      per_row.append(pad_decoder_examples(inputs, targets, length, converter=converter, bos_id=bos_id))
  names = feature_names(converter, pack)
  if not per_row:
    return {k: np.zeros((0, length), np.int32) for k in names}
  return {k: np.concatenate([row[k] for row in per_row]) for k in names}
