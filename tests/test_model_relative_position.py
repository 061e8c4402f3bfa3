"""Relative position buckets against an independent pure-Python float64 implementation
of the T5 paper / Mesh TensorFlow bucketing."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.models.relative_position import RelativePositionBias, relative_position_bucket


def reference_bucket(relative_position: int, bidirectional: bool, num_buckets: int,
                     max_distance: int) -> int:
  distance = -relative_position  # query minus key: > 0 for keys in the past
  offset = 0
  if bidirectional:
    num_buckets //= 2
    if distance < 0:
      offset = num_buckets
    distance = abs(distance)
  else:
    distance = max(distance, 0)
  max_exact = num_buckets // 2
  if distance < max_exact:
    return offset + distance
  log_part = math.log(distance / max_exact) / math.log(max_distance / max_exact)
  return offset + min(max_exact + int(log_part * (num_buckets - max_exact)), num_buckets - 1)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (16, 64), (8, 20)])
def test_buckets_match_reference(bidirectional, num_buckets, max_distance):
  relative = np.arange(-700, 701)
  got = np.asarray(relative_position_bucket(relative, bidirectional, num_buckets, max_distance))
  want = np.array([reference_bucket(int(r), bidirectional, num_buckets, max_distance)
                   for r in relative])
  np.testing.assert_array_equal(got, want)


def test_known_t5_buckets():
  # bidirectional 32/128: keys before the query use buckets 0-15, after it 16-31.
  rel = np.array([0, -1, 1, -7, -8, -16, -127, -128, -5000, 5000])
  got = np.asarray(relative_position_bucket(rel, True, 32, 128)).tolist()
  assert got == [0, 1, 17, 7, 8, 10, 15, 15, 15, 31]
  # causal: future keys all in bucket 0, the past uses all 32.
  got = np.asarray(relative_position_bucket(np.array([3, 0, -1, -15, -16, -200]), False, 32,
                                            128)).tolist()
  assert got == [0, 0, 1, 15, 16, 31]


def test_bias_uses_positions_not_indices():
  module = RelativePositionBias(num_heads=2, num_buckets=32, max_distance=128,
                                bidirectional=True)
  positions = jnp.array([[0, 1, 2, 0, 1]], jnp.int32)
  params = module.init(jax.random.PRNGKey(0), positions, positions)
  bias = np.asarray(module.apply(params, positions, positions))
  table = np.asarray(params["params"]["rel_embedding"].value)
  assert bias.shape == (1, 2, 5, 5)
  for q in range(5):
    for k in range(5):
      bucket = reference_bucket(int(positions[0, k] - positions[0, q]), True, 32, 128)
      np.testing.assert_allclose(bias[0, :, q, k], table[:, bucket], rtol=0, atol=0)
