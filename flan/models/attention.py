"""Multi-head attention for T5: no 1/sqrt(d) scaling (folded into the query init), an
additive float32 relative-position bias, boolean masks and an autoregressive KV cache."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from flan.models.layers import Dense, JoinedDense, dense_apply

attention_kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
# jax.nn.dot_product_attention fills masked logits with the same value.
_MASKED_LOGIT = -0.7 * float(jnp.finfo(jnp.float32).max)


def query_kernel_init(head_dim: int):
  """T5 folds the attention's 1/sqrt(head_dim) into the query projection's init."""
  def init(key, shape, dtype=jnp.float32):
    return attention_kernel_init(key, shape, dtype) / jnp.sqrt(head_dim).astype(dtype)
  return init


def xla_attention(query, key, value, bias, mask, dropout_fn=None):
  """Plain einsum attention. query [b,q,h,d], key/value [b,k,h,d]; bias float32 and
  mask bool broadcastable to [b,h,q,k]. Logits and softmax in float32."""
  logits = jnp.einsum("bqhd,bkhd->bhqk", query, key, preferred_element_type=jnp.float32)
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, _MASKED_LOGIT)
  probs = jax.nn.softmax(logits, axis=-1)
  if dropout_fn is not None:
    probs = dropout_fn(probs)
  return jnp.einsum("bhqk,bkhd->bqhd", probs.astype(value.dtype), value)


def fused_attention(query, key, value, bias, mask):
  """jax.nn.dot_product_attention (XLA or cuDNN chosen by jax); no scaling."""
  return jax.nn.dot_product_attention(query, key, value, bias=bias, mask=mask, scale=1.0)


def choose_attention_impl(impl: str, attention_dropout: bool) -> str:
  """"xla" or "dot_product_attention" for this call; the fused op has no attention dropout."""
  if impl == "auto":
    return "xla" if attention_dropout else "dot_product_attention"
  if impl == "dot_product_attention" and attention_dropout:
    raise ValueError(
        "attention_impl='dot_product_attention' cannot apply dropout to attention weights; "
        "use attention_impl='auto' or 'xla', or set dropout_rate=0 / enable_dropout=False")
  if impl not in ("xla", "dot_product_attention"):
    raise ValueError(f"unknown attention_impl {impl!r}")
  return impl


def combine_masks(*masks):
  """Logical AND of boolean masks (None entries are skipped); None if all are None."""
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  return functools.reduce(jnp.logical_and, masks)


class MultiHeadAttention(nn.Module):
  """T5 attention with query/key/value/out kernels stored [emb, heads*head_dim]."""
  num_heads: int
  head_dim: int
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  attention_impl: str = "auto"

  @nn.compact
  def __call__(self, inputs_q, inputs_kv, mask=None, bias=None, deterministic: bool = True,
               decode: bool = False, decode_fixed_kv: bool = False):
    """inputs_q [b,q,emb], inputs_kv [b,k,emb]; mask bool and bias float32 broadcastable to
    [b,heads,q,k].

    decode=True (causal self-attention): one query per call; keys/values accumulate in
    the cache. decode_fixed_kv=True (cross-attention while decoding): `inputs_kv` is the
    same at every step, so its keys/values are projected at the first step (cache_index
    0) and read from the cache afterwards.
    """
    heads_kv = (self.num_heads, self.head_dim)
    project = lambda name, init: Dense(heads_kv, ("embed", "joined_kv"), self.dtype,
                                       kernel_init=init, name=name)
    names = ("batch", "length", "heads", "kv")
    query = project("query", query_kernel_init(self.head_dim))(inputs_q)
    query = nn.with_logical_constraint(query, names)
    if decode_fixed_kv and self.has_variable("cache", "cached_key"):
      key, value = self._fixed_kv_from_cache(inputs_kv)
    else:
      key = project("key", attention_kernel_init)(inputs_kv)
      value = project("value", attention_kernel_init)(inputs_kv)
      if decode_fixed_kv:  # model.init: create the cache
        self._fixed_kv_cache(key, value)
    key = nn.with_logical_constraint(key, names)
    value = nn.with_logical_constraint(value, names)

    if decode:
      key, value, mask = self._update_cache(key, value, mask)

    attention_dropout = not deterministic and self.dropout_rate > 0.0
    impl = choose_attention_impl(self.attention_impl, attention_dropout)
    if impl == "xla":
      dropout_fn = None
      if attention_dropout:
        # T5X shares the dropout mask across query positions.
        dropout = nn.Dropout(self.dropout_rate, broadcast_dims=(2,))
        dropout_fn = lambda p: dropout(p, deterministic=False)
      out = xla_attention(query, key, value, bias, mask, dropout_fn)
    else:
      out = fused_attention(query, key, value, bias, mask)
    out = nn.with_logical_constraint(out, names)
    out = JoinedDense(inputs_q.shape[-1], 2, ("joined_kv", "embed"), self.dtype,
                      kernel_init=attention_kernel_init, name="out")(out)
    return nn.with_logical_constraint(out, ("batch", "length", "embed"))

  def _fixed_kv_cache(self, key, value):
    return (self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype),
            self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype),
            self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32)))

  def _fixed_kv_from_cache(self, inputs_kv):
    """Keys/values of `inputs_kv`: projected when cache_index is 0, else the cached ones."""
    params = nn.unbox(self.variables["params"])
    kernels = (params["key"]["kernel"], params["value"]["kernel"])
    batch, length, heads, head_dim = self.variables["cache"]["cached_key"].shape
    if inputs_kv.shape[:2] != (batch, length):
      raise ValueError(f"cross-attention inputs have shape {tuple(inputs_kv.shape)} but the "
                       f"decode cache was made for [batch, length] = [{batch}, {length}]")
    cached_key, cached_value, cache_index = self._fixed_kv_cache(
        jax.ShapeDtypeStruct((batch, length, heads, head_dim), self.dtype),
        jax.ShapeDtypeStruct((batch, length, heads, head_dim), self.dtype))

    def project(inputs_kv, cached):
      del cached
      return tuple(dense_apply(inputs_kv, kernel, (heads, head_dim), self.dtype).astype(c.dtype)
                   for kernel, c in zip(kernels, (cached_key.value, cached_value.value)))

    def reuse(inputs_kv, cached):
      del inputs_kv
      return cached

    key, value = jax.lax.cond(cache_index.value == 0, project, reuse, inputs_kv,
                              (cached_key.value, cached_value.value))
    cached_key.value, cached_value.value = key, value
    cache_index.value = cache_index.value + 1
    return key, value

  def _update_cache(self, key, value, mask):
    """Writes this step's key/value at cache_index; masks cache slots not yet written.

    The first call (model.init with full-length inputs) only creates the cache."""
    initialized = self.has_variable("cache", "cached_key")
    cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
    cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
    cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
    if not initialized:
      return key, value, mask
    batch, max_length, heads, head_dim = cached_key.value.shape
    if key.shape != (batch, 1, heads, head_dim):
      raise ValueError(
          f"decode=True takes one token per call: key shape {key.shape}, cache holds "
          f"{cached_key.value.shape} (batch, max_decode_length, heads, head_dim)")
    index = cache_index.value
    key = jax.lax.dynamic_update_slice(cached_key.value, key.astype(cached_key.value.dtype),
                                       (0, index, 0, 0))
    value = jax.lax.dynamic_update_slice(cached_value.value,
                                         value.astype(cached_value.value.dtype), (0, index, 0, 0))
    cached_key.value = key
    cached_value.value = value
    cache_index.value = index + 1
    written = (jnp.arange(max_length) <= index)[None, None, None, :]
    return key, value, combine_masks(mask, written)
