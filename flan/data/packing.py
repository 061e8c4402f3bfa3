"""Best-fit packing of (inputs, targets) examples into fixed-length model rows.

`pack_examples` takes a chunk of tokenized examples (each already no longer than the row lengths),
assigns them to rows with best-fit decreasing over both features at once (see assign_rows), and writes the packed
encoder-decoder features that seqio's EncDecFeatureConverter(pack=True) emits:
encoder_input_tokens, encoder_segment_ids, encoder_positions, decoder_target_tokens,
decoder_input_tokens (targets shifted right inside each segment, 0 at each segment start),
decoder_loss_weights, decoder_segment_ids, decoder_positions. Segment k of a row is the same
example in the encoder and in the decoder. Rows are shuffled with a seeded generator so that batch
composition does not follow example length.

Single-stream (decoder-only) rows use `assign_single_rows` (one-dimensional best-fit decreasing)
and `scatter_rows`; flan.data.decoder_features builds their features.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

PACKED_FEATURES = (
    "encoder_input_tokens", "encoder_segment_ids", "encoder_positions",
    "decoder_target_tokens", "decoder_input_tokens", "decoder_loss_weights",
    "decoder_segment_ids", "decoder_positions")
UNPACKED_FEATURES = (
    "encoder_input_tokens", "decoder_target_tokens", "decoder_input_tokens",
    "decoder_loss_weights")


def _check_lengths(lengths: np.ndarray, limit: int, feature: str):
  if lengths.size and lengths.max() > limit:
    worst = int(np.argmax(lengths))
    raise ValueError(
        f"example {worst} has {int(lengths[worst])} '{feature}' tokens, more than the row length "
        f"{limit}; truncate or drop over-length examples before packing")


STRATEGIES = ("aligned", "tightest")


def _balanced_decreasing_order(size_in: np.ndarray, size_tg: np.ndarray) -> List[int]:
  # Stable sorts: ties keep the example order, so the result is deterministic.
  total = size_in + size_tg
  heavy_in = np.nonzero(size_in >= size_tg)[0]
  heavy_tg = np.nonzero(size_in < size_tg)[0]
  heavy_in = heavy_in[np.argsort(-total[heavy_in], kind="stable")].tolist()
  heavy_tg = heavy_tg[np.argsort(-total[heavy_tg], kind="stable")].tolist()
  order = []
  i = j = 0
  sum_in = sum_tg = 0.0
  while i < len(heavy_in) or j < len(heavy_tg):
    if j == len(heavy_tg) or (i < len(heavy_in) and sum_in <= sum_tg):
      k = heavy_in[i]
      i += 1
    else:
      k = heavy_tg[j]
      j += 1
    sum_in += size_in[k]
    sum_tg += size_tg[k]
    order.append(k)
  return order


def _decreasing_order(size_in: np.ndarray, size_tg: np.ndarray) -> List[int]:
  return np.argsort(-(size_in + size_tg), kind="stable").tolist()


def _place(order: List[int], input_lengths: np.ndarray, target_lengths: np.ndarray,
           max_inputs: int, max_targets: int, aligned: bool) -> List[List[int]]:
  """Puts the examples, in `order`, each into an open row where it fits (see assign_rows)."""
  n = input_lengths.shape[0]
  size_in = input_lengths / max_inputs
  size_tg = target_lengths / max_targets
  room_in = np.empty(n, np.int64)
  room_tg = np.empty(n, np.int64)
  free_in = np.empty(n, np.float64)  # room as a fraction of the row
  free_tg = np.empty(n, np.float64)
  rows: List[List[int]] = []
  num_open = 0
  for i in order:
    need_in = input_lengths[i]
    need_tg = target_lengths[i]
    best = -1
    if num_open:
      fits = (room_in[:num_open] >= need_in) & (room_tg[:num_open] >= need_tg)
      if fits.any():
        if aligned:
          score = size_in[i] * free_in[:num_open] + size_tg[i] * free_tg[:num_open]
          best = int(np.argmax(np.where(fits, score, -np.inf)))
        else:
          best = int(np.argmin(np.where(fits, free_in[:num_open] + free_tg[:num_open], np.inf)))
    if best < 0:
      best = num_open
      num_open += 1
      room_in[best] = max_inputs
      room_tg[best] = max_targets
      rows.append([])
    rows[best].append(i)
    room_in[best] -= need_in
    room_tg[best] -= need_tg
    free_in[best] = room_in[best] / max_inputs
    free_tg[best] = room_tg[best] / max_targets
  return rows


def assign_rows(input_lengths: Sequence[int], target_lengths: Sequence[int],
                max_inputs: int, max_targets: int, strategy: str = "aligned") -> List[List[int]]:
  """Best-fit decreasing in two dimensions: returns rows as lists of example indices.

  Sizes are length fractions of the row (inputs / max_inputs, targets / max_targets). Each
  example, in turn, goes into an open row where it fits in both features; a new row opens only
  when none fits. Which open row:
    "aligned":  the row whose free room points most the way the example does (largest dot
                product of the example's size and the row's free fractions; vector bin
                packing's dot-product rule);
    "tightest": the row left with the least free room (sum of the two free fractions).
  Two orders are tried and the one needing fewer rows is kept (ties: the first; the second is
  skipped when the first is within 1% of the lower bound, the larger feature total / row):
    balanced: examples heavier in inputs and examples heavier in targets each largest first
      (by the sum of their two fractions), merged so that the running totals of the two
      features stay even, so rows get both kinds instead of ending full in one feature only;
    decreasing: all examples largest first (better when examples are large against the row).
  """
  if strategy not in STRATEGIES:
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
  input_lengths = np.asarray(input_lengths, np.int64)
  target_lengths = np.asarray(target_lengths, np.int64)
  if input_lengths.shape != target_lengths.shape:
    raise ValueError(f"{input_lengths.shape[0]} input lengths but {target_lengths.shape[0]} "
                     "target lengths")
  _check_lengths(input_lengths, max_inputs, "inputs")
  _check_lengths(target_lengths, max_targets, "targets")
  size_in = input_lengths / max_inputs
  size_tg = target_lengths / max_targets
  good_enough = int(np.ceil(1.01 * max(size_in.sum(), size_tg.sum())))
  best_rows = None
  for make_order in (_balanced_decreasing_order, _decreasing_order):
    rows = _place(make_order(size_in, size_tg), input_lengths, target_lengths, max_inputs,
                  max_targets, strategy == "aligned")
    if best_rows is None or len(rows) < len(best_rows):
      best_rows = rows
    if len(best_rows) <= good_enough:
      break
  return best_rows


def assign_single_rows(lengths: Sequence[int], max_length: int) -> List[List[int]]:
  """Best-fit decreasing in one dimension (single-stream rows, e.g. decoder-only `inputs targets`):
  examples, longest first (ties keep the example order), each go into the open row with the least
  room left that still fits them; a new row opens only when none fits. Returns rows of indices."""
  lengths = np.asarray(lengths, np.int64)
  _check_lengths(lengths, max_length, "inputs+targets")
  order = np.argsort(-lengths, kind="stable").tolist()
  # A second dimension that never binds (zero length, constant free room) makes _place's "tightest"
  # rule the one-dimensional best fit.
  return _place(order, lengths, np.zeros_like(lengths), max_length, 1, aligned=False)


def scatter_rows(tokens: Sequence[np.ndarray], rows: List[List[int]], length: int):
  """Writes each row's examples one after another: (tokens, segment_ids, positions) [rows, length].

  tokens[i] is example i's per-token array (token ids, or any per-token int values)."""
  order = [i for row in rows for i in row]
  counts = np.array([len(tokens[i]) for i in order], np.int64)
  row_of = np.repeat(np.arange(len(rows)), [len(row) for row in rows])
  segment_of = np.concatenate([np.arange(1, len(row) + 1) for row in rows]) if order else (
      np.zeros(0, np.int64))
  out_tokens = np.zeros((len(rows), length), np.int32)
  out_segments = np.zeros((len(rows), length), np.int32)
  out_positions = np.zeros((len(rows), length), np.int32)
  total = int(counts.sum())
  if total == 0:
    return out_tokens, out_segments, out_positions
  flat = np.concatenate([np.asarray(tokens[i], np.int32) for i in order])
  starts = np.cumsum(counts) - counts  # start of each example in `flat`
  new_row = np.ones(len(counts), bool)
  new_row[1:] = row_of[1:] != row_of[:-1]
  first_in_row = np.maximum.accumulate(np.where(new_row, np.arange(len(counts)), 0))
  row_starts = starts - starts[first_in_row]  # start of each example inside its row
  token_row = np.repeat(row_of, counts)
  token_pos = np.arange(total) - np.repeat(starts, counts)
  token_col = np.repeat(row_starts, counts) + token_pos
  out_tokens[token_row, token_col] = flat
  out_segments[token_row, token_col] = np.repeat(segment_of, counts)
  out_positions[token_row, token_col] = token_pos
  return out_tokens, out_segments, out_positions


def shift_right_in_segments(targets: np.ndarray, positions: np.ndarray) -> np.ndarray:
  """Decoder inputs: each segment's targets shifted right by one, with 0 at each segment start."""
  shifted = np.zeros_like(targets)
  shifted[:, 1:] = targets[:, :-1]
  shifted[positions == 0] = 0
  return shifted


def rows_to_features(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                     rows: List[List[int]], lengths: Mapping[str, int]) -> Dict[str, np.ndarray]:
  enc, enc_seg, enc_pos = scatter_rows(inputs, rows, lengths["inputs"])
  dec, dec_seg, dec_pos = scatter_rows(targets, rows, lengths["targets"])
  return {
      "encoder_input_tokens": enc,
      "encoder_segment_ids": enc_seg,
      "encoder_positions": enc_pos,
      "decoder_target_tokens": dec,
      "decoder_input_tokens": shift_right_in_segments(dec, dec_pos),
      "decoder_loss_weights": (dec != 0).astype(np.int32),
      "decoder_segment_ids": dec_seg,
      "decoder_positions": dec_pos,
  }


def pack_examples(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                  lengths: Mapping[str, int], *, seed: Optional[Any] = 0,
                  strategy: str = "aligned") -> Dict[str, np.ndarray]:
  """Packs one chunk of examples into rows; `seed` (anything np.random.default_rng takes)
  shuffles the row order, None keeps it. `strategy`: see assign_rows."""
  if len(inputs) != len(targets):
    raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
  rows = assign_rows([len(x) for x in inputs], [len(y) for y in targets],
                     lengths["inputs"], lengths["targets"], strategy)
  if seed is not None:
    permutation = np.random.default_rng(seed).permutation(len(rows))
    rows = [rows[j] for j in permutation]
  return rows_to_features(inputs, targets, rows, lengths)


def pad_examples(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                 lengths: Mapping[str, int]) -> Dict[str, np.ndarray]:
  """One example per row, zero-padded (the unpacked seqio features)."""
  rows = [[i] for i in range(len(inputs))]
  features = rows_to_features(inputs, targets, rows, lengths)
  # Unpacked seqio shifts the whole row (the EOS also moves into the first padding slot).
  dec = features["decoder_target_tokens"]
  shifted = np.zeros_like(dec)
  shifted[:, 1:] = dec[:, :-1]
  features["decoder_input_tokens"] = shifted
  return {k: features[k] for k in UNPACKED_FEATURES}


def fill_fractions(features: Mapping[str, np.ndarray]) -> Dict[str, float]:
  """Non-padding fraction of the encoder and decoder token arrays."""
  return {
      "inputs": float(np.mean(features["encoder_input_tokens"] != 0)),
      "targets": float(np.mean(features["decoder_target_tokens"] != 0)),
  }
