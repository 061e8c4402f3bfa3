"""Multi-head attention for T5: no 1/sqrt(d) scaling (folded into the query init), an additive
relative-position bias, packed-example / padding / causal masking, and an autoregressive KV cache.
The attention kernel itself (XLA, jax.nn.dot_product_attention / cuDNN, Pallas flash) is chosen in
flan.models.attention_kernels."""
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

from flan.models.attention_kernels import cached_attention, dot_product_attention
from flan.models.layers import Dense, JoinedDense

attention_kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
# Names of the projections for remat policies that keep them (flan.models.remat).
PROJECTION_NAMES = ("attention_query", "attention_key", "attention_value")


def query_kernel_init(head_dim: int):
  """T5 folds the attention's 1/sqrt(head_dim) into the query projection's init."""
  def init(key, shape, dtype=jnp.float32):
    return attention_kernel_init(key, shape, dtype) / jnp.sqrt(head_dim).astype(dtype)
  return init


class MultiHeadAttention(nn.Module):
  """T5 attention with query/key/value/out kernels stored [emb, heads*head_dim]."""
  num_heads: int
  head_dim: int
  dropout_rate: float = 0.0  # on the attention weights (T5Config.attention_dropout_rate)
  dtype: jnp.dtype = jnp.float32
  attention_impl: str = "auto"

  @nn.compact
  def __call__(self, inputs_q, inputs_kv, bias=None, *, query_segment_ids=None, key_segment_ids=None,
               key_valid=None, causal=False, deterministic: bool = True, decode: bool = False,
               decode_fixed_kv: bool = False):
    """inputs_q [b,q,emb], inputs_kv [b,k,emb]; bias broadcastable to [b,heads,q,k]; query may attend to
    key where the segment ids [b,q] / [b,k] agree, key_valid [b,k] is True and (causal) key <= query.

    decode=True (causal self-attention): one query per call; keys/values accumulate in
    the cache. decode_fixed_kv=True (cross-attention while decoding): `inputs_kv` is the
    same at every step, so its keys/values are projected once, when the cache is created
    (the full-length call that makes the "cache" collection), and read from it afterwards.
    """
    heads_kv = (self.num_heads, self.head_dim)
    project = lambda name, init: Dense(heads_kv, ("embed", "joined_kv"), self.dtype,
                                       kernel_init=init, name=name)
    names = ("batch", "length", "heads", "kv")
    query = project("query", query_kernel_init(self.head_dim))(inputs_q)
    query = checkpoint_name(nn.with_logical_constraint(query, names), PROJECTION_NAMES[0])
    cached_layout = decode_fixed_kv and self.has_variable("cache", "cached_key")
    if cached_layout:
      key, value = self._fixed_kv_from_cache(inputs_kv)
    else:
      key = project("key", attention_kernel_init)(inputs_kv)
      value = project("value", attention_kernel_init)(inputs_kv)
      if decode_fixed_kv:  # the cache is being created: keep these keys/values for every step
        self._store_fixed_kv(key, value)
    if not cached_layout:
      key = checkpoint_name(nn.with_logical_constraint(key, names), PROJECTION_NAMES[1])
      value = checkpoint_name(nn.with_logical_constraint(value, names), PROJECTION_NAMES[2])

    mask = None
    if decode:
      key, value, mask = self._update_cache(key, value)
      if mask is not None:  # a decode step: the cache masks the slots after it
        cached_layout, causal = True, False
    if cached_layout:  # one query against a [b, h, k, d] cache
      if query_segment_ids is not None:
        raise ValueError("cached decoding takes unpacked rows: pass no segment ids with decode=True")
      cache_names = ("batch", "heads", "length", "kv")
      out = cached_attention(query, nn.with_logical_constraint(key, cache_names),
                             nn.with_logical_constraint(value, cache_names), bias, key_valid=key_valid,
                             mask=mask)
    else:
      dropout_fn = None
      if not deterministic and self.dropout_rate > 0.0:
        # T5X shares the dropout mask across query positions.
        dropout = nn.Dropout(self.dropout_rate, broadcast_dims=(2,))
        dropout_fn = lambda p: dropout(p, deterministic=False)
      out = dot_product_attention(query, key, value, bias, query_segment_ids=query_segment_ids,
                                  key_segment_ids=key_segment_ids, key_valid=key_valid, causal=causal,
                                  mask=mask, dropout_fn=dropout_fn, impl=self.attention_impl)
    out = nn.with_logical_constraint(out, names)
    out = JoinedDense(inputs_q.shape[-1], 2, ("joined_kv", "embed"), self.dtype,
                      kernel_init=attention_kernel_init, name="out")(out)
    return nn.with_logical_constraint(out, ("batch", "length", "embed"))

  # Decode caches hold keys and values as [batch, heads, length, head_dim]: a decode step's attention
  # then reads them with (batch, heads) leading, as the CPU/GPU batched matmuls want, instead of
  # transposing the whole cache at every step.

  def _store_fixed_kv(self, key, value):
    """Creates the cross-attention cache holding these [b, k, h, d] keys/values as [b, h, k, d]."""
    self.variable("cache", "cached_key", lambda: jnp.swapaxes(key, 1, 2))
    self.variable("cache", "cached_value", lambda: jnp.swapaxes(value, 1, 2))

  def _fixed_kv_from_cache(self, inputs_kv):
    """The cached [b, h, k, d] cross-attention keys/values (`inputs_kv` only checked for its shape)."""
    cache = self.variables["cache"]
    batch, _, length, _ = cache["cached_key"].shape
    if inputs_kv.shape[:2] != (batch, length):
      raise ValueError(f"cross-attention inputs have shape {tuple(inputs_kv.shape)} but the "
                       f"decode cache was made for [batch, length] = [{batch}, {length}]")
    return cache["cached_key"], cache["cached_value"]

  def _update_cache(self, key, value):
    """Writes this step's key/value at cache_index; returns the [b, h, length, d] cache and the mask of
    the slots written so far. The first call (model.init with full-length inputs) only creates the
    cache and returns key and value as they are (mask None)."""
    initialized = self.has_variable("cache", "cached_key")
    shape = (key.shape[0], key.shape[2], key.shape[1], key.shape[3])
    cached_key = self.variable("cache", "cached_key", jnp.zeros, shape, key.dtype)
    cached_value = self.variable("cache", "cached_value", jnp.zeros, shape, value.dtype)
    cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
    if not initialized:
      return key, value, None
    batch, heads, max_length, head_dim = cached_key.value.shape
    if key.shape != (batch, 1, heads, head_dim):
      raise ValueError(
          f"decode=True takes one token per call: key shape {key.shape}, cache holds "
          f"{cached_key.value.shape} (batch, heads, max_decode_length, head_dim)")
    index = cache_index.value
    write = lambda cache, x: jax.lax.dynamic_update_slice(
        cache, jnp.swapaxes(x, 1, 2).astype(cache.dtype), (0, 0, index, 0))
    cached_key.value = key = write(cached_key.value, key)
    cached_value.value = value = write(cached_value.value, value)
    cache_index.value = index + 1
    written = (jnp.arange(max_length) <= index)[None, None, None, :]
    return key, value, written
