"""Dot-product attention kernels behind one function, chosen per backend or by name.

`dot_product_attention` is model-agnostic (T5 and the decoder-only family call it): query [b, q, h, d],
key/value [b, k, h, d]; an additive bias; which (query, key) pairs may attend is given as structure
(segment ids, padding keys, causality, a further boolean mask) so that kernels that cannot read a
dense mask (the TPU flash-attention kernel) see the same pairs as those that can. Scaling is left to
the caller (`scale`; T5 folds it into the query projection and uses 1.0).

Implementations ("attention_impl"):
  "xla"                    einsum, float32 logits and softmax; the only one with attention dropout.
  "dot_product_attention"  jax.nn.dot_product_attention, implementation chosen by jax (cuDNN where it
                           applies on GPU, else XLA).
  "cudnn"                  jax.nn.dot_product_attention(implementation="cudnn"); GPU only.
  "pallas"                 the Pallas TPU flash-attention kernel (jax.experimental.pallas.ops.tpu),
                           with bias and segment ids; TPU only (or Pallas TPU interpret mode); lengths
                           multiples of its 128 block.
  "auto"                   "xla" with attention dropout or a single query (a decode step); on TPU
                           "pallas" when the lengths fit its blocks; else "dot_product_attention".
"""
import functools

import jax
import jax.numpy as jnp

from flan.errors import ConfigError
from flan.models.config import ATTENTION_IMPLS
from flan.xla_options import target_platform

PALLAS_BLOCK = 128
# jax.nn.dot_product_attention and the Pallas kernel fill masked logits with this value.
MASKED_LOGIT = -0.7 * float(jnp.finfo(jnp.float32).max)


def combine_masks(*masks):
  """Logical AND of boolean masks (None entries are skipped); None if all are None."""
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  return functools.reduce(jnp.logical_and, masks)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def broadcast_over_batch(bias, batch: int):
  """A [1, h, q, k] bias broadcast to [batch, h, q, k]. Its gradient sums the batch with a matmul against
  ones: XLA's CPU reduce over a major axis walks memory with a stride of h*q*k and is ~15x slower."""
  return jnp.broadcast_to(bias, (batch,) + bias.shape[1:])


def _broadcast_over_batch_fwd(bias, batch):
  return broadcast_over_batch(bias, batch), None


def _broadcast_over_batch_bwd(batch, residual, grad):
  del residual
  ones = jnp.ones((batch,), grad.dtype)
  return (jnp.einsum("b...,b->...", grad, ones)[None],)


broadcast_over_batch.defvjp(_broadcast_over_batch_fwd, _broadcast_over_batch_bwd)


def attention_mask(query_length, key_length, *, query_segment_ids=None, key_segment_ids=None,
                   key_valid=None, causal=False, mask=None):
  """The boolean [b or 1, 1 or h, q, k] mask of the pairs that may attend, or None for all pairs."""
  segments = None
  if query_segment_ids is not None:
    segments = query_segment_ids[:, None, :, None] == key_segment_ids[:, None, None, :]
  padding = None if key_valid is None else key_valid[:, None, None, :]
  causal_mask = None
  if causal:
    causal_mask = (jnp.arange(key_length)[None, :] <= jnp.arange(query_length)[:, None])[None, None]
  return combine_masks(segments, padding, causal_mask, mask)


def xla_attention(query, key, value, bias=None, mask=None, dropout_fn=None, scale=1.0):
  """Einsum attention; float32 logits and softmax; `dropout_fn` applies to the probabilities."""
  if scale != 1.0:
    query = query * jnp.asarray(scale, query.dtype)
  logits = jnp.einsum("bqhd,bkhd->bhqk", query, key, preferred_element_type=jnp.float32)
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, MASKED_LOGIT)
  probs = jax.nn.softmax(logits, axis=-1)
  if dropout_fn is not None:
    probs = dropout_fn(probs)
  return jnp.einsum("bhqk,bkhd->bqhd", probs.astype(value.dtype), value)


def cached_attention(query, key, value, bias=None, *, key_valid=None, mask=None):
  """Attention of query [b, q, h, d] (a decode step: q is 1) over a cache key/value [b, h, k, d], the
  layout that needs no transpose per step; float32 logits and softmax, unscaled. Pairs: key_valid [b, k]
  and `mask` broadcastable to [b, h, q, k]. Every implementation runs a single query alike, so this one
  kernel serves all attention_impl settings."""
  logits = jnp.einsum("bqhd,bhkd->bhqk", query, key, preferred_element_type=jnp.float32)
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  mask = combine_masks(None if key_valid is None else key_valid[:, None, None, :], mask)
  if mask is not None:
    logits = jnp.where(mask, logits, MASKED_LOGIT)
  probs = jax.nn.softmax(logits, axis=-1)
  return jnp.einsum("bhqk,bhkd->bqhd", probs.astype(value.dtype), value)


def _pallas_interpret_mode() -> bool:
  """True inside `jax.experimental.pallas.tpu.force_tpu_interpret_mode()` (CPU tests of the kernel)."""
  try:
    from jax._src import config as jax_config  # pylint: disable=import-outside-toplevel
    return jax_config.pallas_tpu_interpret_mode_context_manager.value is not None
  except (ImportError, AttributeError):
    return False


def _pallas_flash_attention():
  try:
    from jax.experimental.pallas.ops.tpu import flash_attention  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None
  return flash_attention


def pallas_available() -> bool:
  """Whether the Pallas TPU flash-attention kernel can run here."""
  return ((target_platform() == "tpu" or _pallas_interpret_mode())
          and _pallas_flash_attention() is not None)


def choose_impl(impl: str, *, attention_dropout: bool, query_length: int, key_length: int) -> str:
  """The implementation one attention call uses: `impl` checked, or "auto" resolved (module docstring)."""
  if impl not in ATTENTION_IMPLS:
    raise ConfigError(f"T5Config.attention_impl: unknown value {impl!r}; use one of {ATTENTION_IMPLS}")
  if impl == "auto":
    if attention_dropout or query_length == 1:
      return "xla"
    if pallas_available() and query_length % PALLAS_BLOCK == 0 and key_length % PALLAS_BLOCK == 0:
      return "pallas"
    return "dot_product_attention"
  if attention_dropout and impl != "xla":
    raise ConfigError(
        f"attention_impl={impl!r} cannot apply dropout to attention weights; set attention_dropout=0 "
        "(T5Config.attention_dropout) or use attention_impl='auto' or 'xla'")
  if impl == "cudnn" and target_platform() != "gpu":
    raise ConfigError(f"attention_impl='cudnn' needs a GPU; this backend is {target_platform()!r}")
  if impl == "pallas":
    if not pallas_available():
      raise ConfigError("attention_impl='pallas' needs a TPU backend and jax's Pallas TPU flash-attention "
                        f"kernel; this backend is {target_platform()!r}")
    if query_length % PALLAS_BLOCK or key_length % PALLAS_BLOCK:
      raise ConfigError(f"attention_impl='pallas' needs lengths that are multiples of {PALLAS_BLOCK}; got "
                        f"query length {query_length} and key length {key_length}")
  return impl


def _pallas_attention(query, key, value, bias, query_segment_ids, key_segment_ids, causal, scale):
  """The TPU flash kernel, per shard of the batch and heads axes under the current mesh."""
  fa = _pallas_flash_attention()
  batch, q_len, heads, _ = query.shape
  k_len = key.shape[1]
  if bias is not None:  # the kernel reads a full [b, h, q, k] bias
    bias = jnp.broadcast_to(bias.astype(query.dtype), (batch, heads, q_len, k_len))

  def kernel(q, k, v, ab, q_seg, kv_seg):
    q, k, v = (jnp.swapaxes(x, 1, 2) for x in (q, k, v))  # [b, h, l, d]
    segment_ids = fa.SegmentIds(q=q_seg, kv=kv_seg)
    out = fa.flash_attention(q, k, v, ab, segment_ids, causal=causal, sm_scale=scale)
    return jnp.swapaxes(out, 1, 2)

  q_seg = jnp.ones((batch, q_len), jnp.int32) if query_segment_ids is None else query_segment_ids
  kv_seg = jnp.ones((batch, k_len), jnp.int32) if key_segment_ids is None else key_segment_ids
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return kernel(query, key, value, bias, q_seg.astype(jnp.int32), kv_seg.astype(jnp.int32))
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  spec = lambda names: nn.logical_to_mesh_axes(names)
  qkv = spec(("batch", None, "heads", None))
  seg = spec(("batch", None))
  ab_spec = spec(("batch", "heads", None, None))
  sharded = jax.shard_map(kernel, mesh=mesh, in_specs=(qkv, qkv, qkv, ab_spec if bias is not None else None,
                                                       seg, seg),
                          out_specs=qkv, check_vma=False)
  return sharded(query, key, value, bias, q_seg.astype(jnp.int32), kv_seg.astype(jnp.int32))


def dot_product_attention(query, key, value, bias=None, *, query_segment_ids=None, key_segment_ids=None,
                          key_valid=None, causal=False, mask=None, dropout_fn=None, scale=1.0,
                          impl="auto"):
  """Attention output [b, q, h, d] of query [b, q, h, d] over key/value [b, k, h, d].

  bias: additive, broadcastable to [b, h, q, k] (e.g. [1, h, q, k] shared by the batch).
  Pairs that may attend: query_segment_ids [b, q] equal to key_segment_ids [b, k] (packed examples),
  key_valid [b, k] True (False = padding key), key index <= query index when causal, and a further
  boolean `mask` broadcastable to [b, h, q, k] (not readable by "pallas").
  dropout_fn: applied to the attention probabilities (only "xla" can; pass None otherwise).
  """
  if (query_segment_ids is None) != (key_segment_ids is None):
    raise ValueError("dot_product_attention needs both query_segment_ids and key_segment_ids, or neither")
  impl = choose_impl(impl, attention_dropout=dropout_fn is not None, query_length=query.shape[1],
                     key_length=key.shape[1])
  if bias is not None and bias.ndim == 4 and bias.shape[0] == 1 and query.shape[0] > 1:
    bias = broadcast_over_batch(bias, query.shape[0])
  if impl == "pallas":
    if mask is not None:
      raise ConfigError("attention_impl='pallas' cannot read a dense attention mask; use 'auto' or 'xla'")
    if key_valid is not None:
      # Padding keys get segment 0, which no real query has (packed padding is segment 0 already).
      ones = jnp.ones(key_valid.shape, jnp.int32)
      key_segment_ids = jnp.where(key_valid, ones if key_segment_ids is None else key_segment_ids, 0)
      if query_segment_ids is None:
        query_segment_ids = jnp.ones(query.shape[:2], jnp.int32)
    return _pallas_attention(query, key, value, bias, query_segment_ids, key_segment_ids, causal, scale)
  full_mask = attention_mask(query.shape[1], key.shape[1], query_segment_ids=query_segment_ids,
                             key_segment_ids=key_segment_ids, key_valid=key_valid, causal=causal, mask=mask)
  if impl == "xla":
    return xla_attention(query, key, value, bias, full_mask, dropout_fn, scale)
  return jax.nn.dot_product_attention(
      query, key, value, bias=None if bias is None else bias.astype(query.dtype), mask=full_mask, scale=scale,
      implementation="cudnn" if impl == "cudnn" else None)
