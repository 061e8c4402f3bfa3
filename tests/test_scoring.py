"""flan.models.scoring against per-token losses that transformers computed for the golden fixture."""
import pathlib

import numpy as np
import pytest

from flan.models import hf
from flan.models.scoring import padded_length, score, score_tokens

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "hf_tiny_t5"


@pytest.fixture(scope="module")
def model():
  config, params = hf.import_hf(FIXTURE)
  return config.replace(dtype="float32"), params


@pytest.fixture(scope="module")
def golden_rows():
  golden = np.load(FIXTURE / "golden.npz")
  inputs = [[int(t) for t in row if t] for row in golden["encoder_input_tokens"]]
  targets = [[int(t) for t in row if t] for row in golden["decoder_target_tokens"]]
  expected = -golden["per_token_loss"].astype(np.float64).sum(-1)
  return inputs, targets, expected


def test_scores_equal_transformers_summed_log_probs(model, golden_rows):
  inputs, targets, expected = golden_rows
  scores = score_tokens(*model, inputs, targets, batch_size=4)
  assert scores.dtype == np.float32
  np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=2e-4)


def test_scores_do_not_depend_on_batching_or_order(model, golden_rows):
  inputs, targets, _ = golden_rows
  # Six examples of mixed lengths in two batches of 4 (the longest first) must come back in input order.
  inputs6, targets6 = inputs + inputs[::-1], targets + targets[::-1]
  # Fixed lengths: one compiled shape whatever the batch holds.
  fixed = dict(batch_size=4, inputs_length=64, targets_length=16)
  together = score_tokens(*model, inputs6, targets6, **fixed)
  alone = np.array([score_tokens(*model, [x], [y], **fixed)[0] for x, y in zip(inputs, targets)])
  np.testing.assert_allclose(together, np.concatenate([alone, alone[::-1]]), rtol=1e-5, atol=1e-5)


class CharTokenizer:
  """Stand-in for the SentencePiece tokenizer within the fixture's 256-id vocabulary."""
  eos_id = 1

  def encode_batch(self, texts):
    return [[2 + (ord(c) % 250) for c in text] for text in texts]


def test_text_pairs_get_eos_appended(model):
  tokenizer = CharTokenizer()
  pairs = [("a question", "yes"), ("another one", "no")]
  fixed = dict(batch_size=4, inputs_length=64, targets_length=16)
  by_text = score(*model, tokenizer, pairs, **fixed)
  by_tokens = score_tokens(*model, [ids + [1] for ids in tokenizer.encode_batch([a for a, _ in pairs])],
                           [ids + [1] for ids in tokenizer.encode_batch([b for _, b in pairs])], **fixed)
  np.testing.assert_array_equal(by_text, by_tokens)
  assert np.all(np.isfinite(by_text))


def test_padded_lengths_are_powers_of_two_of_at_least_8():
  assert [padded_length(n) for n in (0, 1, 8, 9, 16, 17, 100)] == [8, 8, 8, 16, 16, 32, 128]


def test_bad_arguments(model):
  with pytest.raises(ValueError, match="2 inputs but 1 targets"):
    score_tokens(*model, [[5, 1], [6, 1]], [[7, 1]])
  with pytest.raises(ValueError, match="example 0: empty target"):
    score_tokens(*model, [[5, 1]], [[]])
  with pytest.raises(ValueError, match="batch_size"):
    score_tokens(*model, [[5, 1]], [[7, 1]], batch_size=0)
  with pytest.raises(ValueError, match="example 1: 3 tokens in its targets exceed targets_length=2"):
    score_tokens(*model, [[5, 1], [5, 1]], [[7, 1], [7, 8, 1]], inputs_length=8, targets_length=2)


def test_scores_on_a_2x4_mesh_equal_single_device(model, golden_rows):
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.models.scoring import place_params  # pylint: disable=import-outside-toplevel
  inputs, targets, _ = golden_rows
  mesh = partitioning.make_mesh(data=2, model=4)
  fixed = dict(batch_size=4, inputs_length=64, targets_length=16)
  sharded = score_tokens(*model, inputs, targets, mesh=mesh, **fixed)
  np.testing.assert_allclose(sharded, score_tokens(*model, inputs, targets, **fixed), rtol=1e-5, atol=1e-5)
  placed = place_params(*model, mesh, partitioning.logical_rules())
  embedding = placed["token_embedder"]["embedding"]
  assert embedding.sharding.shard_shape(embedding.shape) == (64, 32)  # vocab split over model=4
  with pytest.raises(ValueError, match="batch size 3"):
    score_tokens(*model, inputs, targets, mesh=mesh, batch_size=3)
