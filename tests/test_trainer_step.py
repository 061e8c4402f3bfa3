"""Loss normalizers of the train step (weights and denominators) and the microbatch split."""
import jax.numpy as jnp
import numpy as np
import pytest

from flan.trainer import step


def _batch():
  # row 0 packs sequences of 2 and 3 target tokens; row 1 holds one sequence of 1 token
  return {
      "decoder_loss_weights": jnp.array([[1, 1, 1, 1, 1, 0], [1, 0, 0, 0, 0, 0]]),
      "decoder_segment_ids": jnp.array([[1, 1, 2, 2, 2, 0], [1, 0, 0, 0, 0, 0]]),
  }


def test_per_token_sum_and_constant():
  weights, denominator = step.token_weights_and_denominator(_batch(), "per_token")
  assert float(denominator) == 6 and np.array_equal(weights, _batch()["decoder_loss_weights"])
  assert float(step.token_weights_and_denominator(_batch(), "sum")[1]) == 1
  assert float(step.token_weights_and_denominator(_batch(), 233472.0)[1]) == 233472.0


def test_per_sequence_gives_each_packed_sequence_weight_one():
  weights, denominator = step.token_weights_and_denominator(_batch(), "per_sequence")
  np.testing.assert_allclose(weights, [[1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 3, 0], [1, 0, 0, 0, 0, 0]], rtol=1e-6)
  assert float(denominator) == pytest.approx(3.0)  # three sequences
  unpacked = {"decoder_loss_weights": _batch()["decoder_loss_weights"]}
  weights, denominator = step.token_weights_and_denominator(unpacked, "per_sequence")
  np.testing.assert_allclose(weights[0], [0.2] * 5 + [0], rtol=1e-6)
  assert float(denominator) == pytest.approx(2.0)


def test_microbatches_take_strided_rows():
  batch = {"x": jnp.arange(8)[:, None] * jnp.ones((1, 3), jnp.int32)}
  micro = step._split_microbatches(batch, 4)  # pylint: disable=protected-access
  assert micro["x"].shape == (4, 2, 3)
  np.testing.assert_array_equal(micro["x"][:, :, 0], [[0, 4], [1, 5], [2, 6], [3, 7]])
  with pytest.raises(ValueError, match="not divisible by num_microbatches=3"):
    step._split_microbatches(batch, 3)  # pylint: disable=protected-access


def test_unknown_normalizer_is_refused():
  with pytest.raises(ValueError, match="'mean'"):
    step.check_loss_normalizer("mean")
  with pytest.raises(ValueError, match="> 0"):
    step.check_loss_normalizer(-1.0)
