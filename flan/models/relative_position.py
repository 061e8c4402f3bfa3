"""T5 relative position buckets and the per-stack relative position bias table."""
import math

import flax.linen as nn
import jax.numpy as jnp


def relative_position_bucket(relative_position, bidirectional: bool, num_buckets: int,
                             max_distance: int):
  """Maps `key_position - query_position` to a bucket id in [0, num_buckets).

  As in the T5 paper and Mesh TensorFlow: in bidirectional mode half the buckets are
  for keys after the query and half for keys at or before it; in causal mode keys
  after the query all fall in bucket 0. Within a direction, the first half of the
  buckets hold distances exactly, the rest are log-spaced up to `max_distance`,
  beyond which everything shares the last bucket.
  """
  distance = -jnp.asarray(relative_position, jnp.int32)
  bucket = jnp.zeros_like(distance)
  if bidirectional:
    num_buckets //= 2
    bucket = bucket + jnp.where(distance < 0, num_buckets, 0)
    distance = jnp.abs(distance)
  else:
    distance = jnp.maximum(distance, 0)
  max_exact = num_buckets // 2
  is_small = distance < max_exact
  # float32 like the reference implementations; max(.,1) keeps log finite where unused.
  ratio = jnp.maximum(distance, 1).astype(jnp.float32) / max_exact
  log_bucket = (jnp.log(ratio) / math.log(max_distance / max_exact)
                * (num_buckets - max_exact))
  large = max_exact + log_bucket.astype(jnp.int32)
  large = jnp.minimum(large, num_buckets - 1)
  return bucket + jnp.where(is_small, distance, large)


class RelativePositionBias(nn.Module):
  """One learned bias per (head, bucket), shared by all layers of a stack."""
  num_heads: int
  num_buckets: int
  max_distance: int
  bidirectional: bool

  @nn.compact
  def __call__(self, query_positions, key_positions):
    """Positions [b or 1, q] and [b or 1, k] -> float32 bias [b or 1, heads, q, k]."""
    table = self.param(
        "rel_embedding",
        nn.with_logical_partitioning(
            nn.initializers.variance_scaling(1.0, "fan_avg", "uniform"),
            ("heads", "relpos_buckets")),
        (self.num_heads, self.num_buckets), jnp.float32)
    relative = key_positions[:, None, :] - query_positions[:, :, None]
    buckets = relative_position_bucket(relative, self.bidirectional, self.num_buckets,
                                       self.max_distance)
    bias = jnp.transpose(jnp.take(table, buckets, axis=1), (1, 0, 2, 3))
    # a logical name may appear once per array; a broadcast batch of 1 cannot split over "batch"
    batch_axis = "batch" if bias.shape[0] > 1 else None
    return nn.with_logical_constraint(bias, (batch_axis, "heads", "length", None))
