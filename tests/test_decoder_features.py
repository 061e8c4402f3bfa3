"""Tests for flan.data.decoder_features: seqio-identical unpacked features, packed rows without leakage."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from flan.data import decoder_features as df
from flan.data import packing

LENGTHS = {"inputs": 20, "targets": 10}
EOS = 1


def _examples(n, rng, max_in=20, max_tg=10):
  """Examples ending in EOS whose first token is a unique tag (i + 2); some at the full lengths."""
  inputs, targets = [], []
  for i in range(n):
    n_in = max_in - 2 if i % 7 == 0 else int(rng.integers(0, max_in - 1))
    n_tg = max_tg - 2 if i % 5 == 0 else int(rng.integers(0, max_tg - 1))
    inputs.append(np.array([i + 2] + rng.integers(2, 900, n_in).tolist() + [EOS], np.int32))
    targets.append(np.array([i + 2] + rng.integers(2, 900, n_tg).tolist() + [EOS], np.int32))
  return inputs, targets


def _seqio_unpacked(inputs, targets, converter_class, bos_id):
  seqio = pytest.importorskip("seqio")
  tf = pytest.importorskip("tensorflow")
  ds = tf.data.Dataset.from_tensor_slices({
      "inputs": tf.ragged.constant([x.tolist() for x in inputs], dtype=tf.int32),
      "targets": tf.ragged.constant([y.tolist() for y in targets], dtype=tf.int32)})
  converter = getattr(seqio, converter_class)(pack=False, bos_id=bos_id)
  rows = list(converter(ds, dict(LENGTHS)).as_numpy_iterator())
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


@pytest.mark.parametrize("converter,seqio_class", [
    ("decoder", "DecoderFeatureConverter"),
    ("prefix_lm", "DecoderFeatureConverter"),
    ("prefix_lm", "PrefixLMFeatureConverter")])
@pytest.mark.parametrize("bos_id", [0, 3])
def test_unpacked_features_equal_seqio(converter, seqio_class, bos_id):
  inputs, targets = _examples(40, np.random.default_rng(1))
  ours = df.pad_decoder_examples(inputs, targets, df.row_length(LENGTHS), converter=converter,
                                 bos_id=bos_id)
  theirs = _seqio_unpacked(inputs, targets, seqio_class, bos_id)
  assert set(ours) == set(df.feature_names(converter, pack=False))
  if converter == "prefix_lm":
    assert set(ours) == set(theirs)
  else:  # fully causal: seqio's causal-attention mask is the one feature a causal model must not get
    assert set(theirs) - set(ours) == {"decoder_causal_attention"}
  for key, value in ours.items():
    assert value.dtype == np.int32 and value.shape == (40, 30), key
    np.testing.assert_array_equal(value, theirs[key], err_msg=key)


def test_seqio_docstring_example_prefix_lm_packed_row():
  # seqio's PrefixLMFeatureConverter docstring, example 1 (two examples in one row of 15).
  inputs = [np.array([7, 8, 5, 1]), np.array([8, 4, 9, 3, 1])]
  targets = [np.array([3, 9, 1]), np.array([4, 1])]
  got = df.rows_to_decoder_features(inputs, targets, [[0, 1]], 15, converter="prefix_lm")
  expected = {
      "decoder_target_tokens": [7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 1, 0],
      "decoder_input_tokens": [0, 7, 8, 5, 1, 3, 9, 0, 8, 4, 9, 3, 1, 4, 0],
      "decoder_loss_weights": [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0],
      "decoder_positions": [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0],
      "decoder_segment_ids": [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0],
      "decoder_causal_attention": [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]}
  assert set(got) == set(expected)
  for key, row in expected.items():
    np.testing.assert_array_equal(got[key][0], row, err_msg=key)


@pytest.mark.parametrize("bos_id", [0, 5])
def test_packed_rows_restart_per_example_and_weight_only_targets(bos_id):
  inputs, targets = _examples(300, np.random.default_rng(2))
  length = df.row_length(LENGTHS)
  feats = df.pack_decoder_examples(inputs, targets, length, converter="prefix_lm", bos_id=bos_id, seed=4)
  assert set(feats) == set(df.feature_names("prefix_lm", pack=True))
  seen = []
  for r in range(feats["decoder_target_tokens"].shape[0]):
    row = {k: v[r] for k, v in feats.items()}
    seg = row["decoder_segment_ids"]
    pad = seg == 0
    assert pad[np.argmax(pad):].all() if pad.any() else True, "padding only at the end of a row"
    for key in feats:
      assert np.all(row[key][pad] == 0), key
    ids = np.unique(seg[~pad])
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))
    for s in ids:
      where = np.nonzero(seg == s)[0]
      assert np.all(np.diff(where) == 1), "a segment is contiguous"
      example = int(row["decoder_target_tokens"][where[0]]) - 2
      x, y = inputs[example], targets[example]
      stream = np.concatenate([x, y])
      np.testing.assert_array_equal(row["decoder_target_tokens"][where], stream)
      np.testing.assert_array_equal(row["decoder_positions"][where], np.arange(len(stream)))
      # The model reads only this example: bos_id, then its own stream shifted; nothing of the previous one.
      np.testing.assert_array_equal(row["decoder_input_tokens"][where],
                                    np.concatenate([[bos_id], stream[:-1]]))
      np.testing.assert_array_equal(row["decoder_loss_weights"][where],
                                    np.r_[np.zeros(len(x)), np.ones(len(y))])
      np.testing.assert_array_equal(row["decoder_causal_attention"][where],
                                    np.arange(len(stream)) <= len(x))
      seen.append(example)
  assert sorted(seen) == list(range(300))
  assert int(feats["decoder_loss_weights"].sum()) == sum(map(len, targets))


def test_without_start_token_the_model_reads_the_stream_itself():
  inputs, targets = _examples(120, np.random.default_rng(6))
  feats = df.pack_decoder_examples(inputs, targets, df.row_length(LENGTHS), converter="prefix_lm",
                                   bos_id=None, seed=2)
  seen = []
  for r in range(feats["decoder_target_tokens"].shape[0]):
    row = {k: v[r] for k, v in feats.items()}
    seg = row["decoder_segment_ids"]
    for key in feats:
      assert np.all(row[key][seg == 0] == 0), key
    for s in np.unique(seg[seg > 0]):
      where = seg == s
      example = int(row["decoder_input_tokens"][where][0]) - 2
      x, y = inputs[example], targets[example]
      stream = np.concatenate([x, y])
      np.testing.assert_array_equal(row["decoder_input_tokens"][where], stream[:-1])
      np.testing.assert_array_equal(row["decoder_target_tokens"][where], stream[1:])
      np.testing.assert_array_equal(row["decoder_positions"][where], np.arange(len(stream) - 1))
      # The first target token is predicted where the separator EOS is read (slot len(x) - 1).
      np.testing.assert_array_equal(row["decoder_loss_weights"][where],
                                    np.arange(len(stream) - 1) >= len(x) - 1)
      np.testing.assert_array_equal(row["decoder_causal_attention"][where],
                                    np.arange(len(stream) - 1) < len(x))
      seen.append(example)
  assert sorted(seen) == list(range(120))
  assert int(feats["decoder_loss_weights"].sum()) == sum(map(len, targets))
  with pytest.raises(ValueError, match="example 0 has fewer than 2 tokens"):
    df.pack_decoder_examples([np.array([], np.int32)], [np.array([EOS])], 8, bos_id=None)


@pytest.mark.parametrize("bos_id", [0, 9, None])
def test_same_stream_as_decoder_scoring(bos_id):
  """Training rows teach exactly what flan.models.decoder_scoring scores (same start, separator, mask)."""
  scoring = pytest.importorskip("flan.models.decoder_scoring")
  inputs, targets = _examples(12, np.random.default_rng(7))
  start = [] if bos_id is None else [bos_id]
  width = df.row_length(LENGTHS)
  tokens, predicted, weights, causal = scoring.stream_arrays(
      [start + x.tolist() for x in inputs], [y.tolist() for y in targets], width, len(inputs))
  ours = df.pad_decoder_examples(inputs, targets, width, converter="prefix_lm", bos_id=bos_id)
  np.testing.assert_array_equal(ours["decoder_target_tokens"], predicted)
  np.testing.assert_array_equal(ours["decoder_loss_weights"], weights)
  np.testing.assert_array_equal(ours["decoder_causal_attention"], causal)
  real = ours["decoder_target_tokens"] != 0  # seqio's unpacked rows also shift the last EOS into padding
  np.testing.assert_array_equal(ours["decoder_input_tokens"][real], tokens[real])


def test_decoder_converter_packs_without_causal_attention():
  inputs, targets = _examples(50, np.random.default_rng(3))
  length = df.row_length(LENGTHS)
  causal = df.pack_decoder_examples(inputs, targets, length, converter="decoder", seed=1)
  prefix = df.pack_decoder_examples(inputs, targets, length, converter="prefix_lm", seed=1)
  assert "decoder_causal_attention" not in causal
  for key in causal:
    np.testing.assert_array_equal(causal[key], prefix[key], err_msg=key)


def test_best_fit_decreasing_rows():
  # Longest first, each into the row with the least room that fits: 6 | 5 | 4 fills the 6-row exactly.
  assert packing.assign_single_rows([6, 5, 4, 3, 2], 10) == [[0, 2], [1, 3, 4]]
  rng = np.random.default_rng(0)
  lengths = rng.integers(3, 400, 2000)
  rows = packing.assign_single_rows(lengths, 512)
  assert sorted(i for row in rows for i in row) == list(range(2000))
  assert all(lengths[row].sum() <= 512 for row in rows)
  lower_bound = int(np.ceil(lengths.sum() / 512))
  assert len(rows) <= 1.02 * lower_bound + 1, (len(rows), lower_bound)


def test_fill_beats_one_example_per_row_and_keeps_every_token():
  inputs, targets = _examples(500, np.random.default_rng(5))
  # Rows 4x the longest stream, as 2560-token rows are for typical Flan examples.
  feats = df.pack_decoder_examples(inputs, targets, 120, seed=0)
  total = sum(len(x) + len(y) for x, y in zip(inputs, targets))
  assert df.real_token_count(feats) == total
  assert total / feats["decoder_target_tokens"].size > 0.98


def test_over_length_example_is_rejected():
  with pytest.raises(ValueError, match="example 1 has 31 'inputs\\+targets' tokens, more than the row"):
    df.pack_decoder_examples([np.ones(3), np.ones(21)], [np.ones(2), np.ones(10)], 30)


def test_bad_converter_is_named():
  with pytest.raises(ValueError, match="converter must be one of .*'encdec'"):
    df.feature_names("encdec", pack=True)


def test_truncation_keeps_the_separator_with_the_vocabulary_eos():
  from flan.data import examples  # pylint: disable=import-outside-toplevel
  llama_eos = 2
  raw = [(np.array([5, 6, 7, 8, llama_eos]), np.array([9, 9, 9, llama_eos])),
         (np.array([5, llama_eos]), np.array([9, llama_eos]))]
  kept, _ = examples.fit_to_lengths(raw, {"inputs": 3, "targets": 2}, "truncate", eos_id=llama_eos)
  np.testing.assert_array_equal(kept[0][0], [5, 6, llama_eos])
  np.testing.assert_array_equal(kept[0][1], [9, llama_eos])
  np.testing.assert_array_equal(kept[1][0], [5, llama_eos])


def test_synthetic_batches_are_learnable_and_independent_of_the_host_split():
  common = dict(seed=3, batch_index=7, length=40, vocab_size=100, converter="prefix_lm", bos_id=0)
  whole = df.synthetic_decoder_batch(first_row=0, rows=4, **common)
  halves = [df.synthetic_decoder_batch(first_row=r, rows=2, **common) for r in (0, 2)]
  for key in whole:
    np.testing.assert_array_equal(whole[key], np.concatenate([h[key] for h in halves]), err_msg=key)
  assert set(whole) == set(df.feature_names("prefix_lm", pack=True))
  other = df.synthetic_decoder_batch(first_row=0, rows=4, **dict(common, batch_index=8))
  assert not np.array_equal(other["decoder_target_tokens"], whole["decoder_target_tokens"])
  for r in range(4):
    seg, tok = whole["decoder_segment_ids"][r], whole["decoder_target_tokens"][r]
    weights = whole["decoder_loss_weights"][r]
    for s in np.unique(seg[seg > 0]):
      stream = tok[seg == s]
      target = stream[weights[seg == s] == 1]
      source = stream[:len(stream) - len(target)]
      assert source[-1] == EOS and target[-1] == EOS and len(source) == len(target)
      np.testing.assert_array_equal(target[:-1], source[:-1][::-1] + 1)
  unpacked = df.synthetic_decoder_batch(first_row=0, rows=3, pack=False, **common)
  assert set(unpacked) == set(df.feature_names("prefix_lm", pack=False))
  assert unpacked["decoder_target_tokens"].shape == (3, 40)


def test_imports_without_tensorflow():
  script = textwrap.dedent("""
      import importlib.abc, sys
      class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
          if name.split(".")[0] in ("tensorflow", "seqio"):
            raise ImportError(name + " is blocked")
      sys.meta_path.insert(0, Block())
      from flan.data import decoder_features
      batch = decoder_features.synthetic_decoder_batch(seed=0, batch_index=0, first_row=0, rows=2, length=16,
                                                       vocab_size=50)
      assert batch["decoder_target_tokens"].shape == (2, 16)
  """)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]


def _seqio_packed(inputs, targets, lengths, bos_id):
  seqio = pytest.importorskip("seqio")
  tf = pytest.importorskip("tensorflow")
  ragged = lambda xs: tf.RaggedTensor.from_row_lengths(  # noqa: E731
      np.concatenate(xs).astype(np.int32), [len(x) for x in xs])
  ds = tf.data.Dataset.from_tensor_slices({"inputs": ragged(inputs), "targets": ragged(targets)})
  out = seqio.DecoderFeatureConverter(pack=True, bos_id=bos_id)(ds, dict(lengths))
  parts = list(out.batch(512).as_numpy_iterator())
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@pytest.mark.parametrize("bos_id", [0, 3])
def test_packed_features_equal_seqio_for_the_same_grouping(bos_id):
  """seqio's packer fills rows with consecutive examples; given its grouping, our rows are its rows."""
  inputs, targets = _examples(60, np.random.default_rng(8))
  theirs = _seqio_packed(inputs, targets, LENGTHS, bos_id)
  counts = [len(np.unique(seg[seg > 0])) for seg in theirs["decoder_segment_ids"]]
  starts = np.cumsum([0] + counts)
  assert starts[-1] == 60
  rows = [list(range(starts[r], starts[r + 1])) for r in range(len(counts))]
  ours = df.rows_to_decoder_features(inputs, targets, rows, df.row_length(LENGTHS), converter="prefix_lm",
                                     bos_id=bos_id)
  assert set(ours) == set(theirs)
  real = ours["decoder_segment_ids"] > 0
  for key in ours:
    if key == "decoder_input_tokens":  # seqio also writes bos_id into the first padding slot
      np.testing.assert_array_equal(ours[key][real], theirs[key][real])
      assert np.all(ours[key][~real] == 0)
    else:
      np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("few_shot_every", [0, 3])
def test_cot_streams_fill_2560_rows_better_than_seqio(shared_data, few_shot_every):
  """Real Flan CoT examples (T5 vocabulary) in 2048 + 512 rows, as the Flan-PaLM setup packs them
  (measured: zero-shot 98.3% vs seqio 97.1%; every third prompt few-shot 99.7% vs 92.9%)."""
  from test_packing import _cot_examples  # pylint: disable=import-outside-toplevel
  lengths = {"inputs": 2048, "targets": 512}
  inputs, targets = _cot_examples(shared_data, 2048, few_shot_every)
  targets = [y[:512 - 1].tolist() + [EOS] if len(y) > 512 else y for y in targets]
  targets = [np.asarray(y, np.int32) for y in targets]
  ours = df.pack_decoder_examples(inputs, targets, df.row_length(lengths), seed=0)
  theirs = _seqio_packed(inputs, targets, lengths, 0)
  total = sum(len(x) + len(y) for x, y in zip(inputs, targets))
  assert df.real_token_count(ours) == total
  fill_ours = total / ours["decoder_target_tokens"].size
  fill_theirs = total / theirs["decoder_target_tokens"].size
  assert fill_ours >= 0.97 and fill_ours >= fill_theirs, (fill_ours, fill_theirs)
