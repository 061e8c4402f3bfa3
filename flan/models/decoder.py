"""The decoder-only transformer (PaLM and Llama designs, see DecoderConfig) in flax.linen.

Input is one packed stream per row, seqio's decoder features: tokens, segment ids (packed examples never
attend to each other), positions (restart at 0 per example; they drive the rotary angles) and, for the
prefix-LM mode, causal_attention (1 over each example's input part, which then attends bidirectionally).

Sharding: query and output projections split heads over the model axis ("joined_kv"); the MLP splits "mlp",
the embedding "vocab". Key/value projections are split the same way only when there are as many kv heads as
heads; with fewer (grouped-query or multi-query attention) they carry the logical axis "kv", which the rules
table maps to no mesh axis, so they are replicated over the model axis (they are num_heads / num_kv_heads
times smaller than the query projection). Keys and values are then repeated to all heads inside attention.

Decoding with a key/value cache (`cache_mode`): "prefill" runs the prompt [b, p] in one pass and writes its keys
and values into cache slots 0..p-1 (the cache is created with `cache_length` slots); "step" runs one token per
row at its own position (decoder_positions [b, 1], per-row prompt lengths allowed), writes slot `position` and
attends to slots 0..position.
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from flan.models.decoder_config import DecoderConfig
from flan.models.decoder_layers import Dense, Embed, GatedMlp, RMSNorm
from flan.models.rotary import apply_rotary

ACTIVATION = ("batch", "length", "embed")
CACHE_MODES = (None, "prefill", "step")
_MASKED_LOGIT = -0.7 * float(jnp.finfo(jnp.float32).max)


def attention_mask(length: int, segment_ids=None, causal_attention=None):
  """Boolean [b or 1, 1, length, length]: query q sees key k when k <= q, or when both are in the
  bidirectional input part (causal_attention 1), and only inside the same segment."""
  index = jnp.arange(length)
  mask = (index[None, :] <= index[:, None])[None, None]
  if causal_attention is not None:
    prefix = causal_attention.astype(bool)
    mask = mask | (prefix[:, None, :, None] & prefix[:, None, None, :])
  if segment_ids is not None:
    mask = mask & (segment_ids[:, None, :, None] == segment_ids[:, None, None, :])
  return mask


def step_mask(positions, cache_length: int):
  """Boolean [b, 1, 1, cache_length]: one query per row at positions [b, 1] sees slots 0..position."""
  return (jnp.arange(cache_length)[None, :] <= positions[:, :1])[:, None, None, :]


def dot_attention(query, key, value, mask, impl: str):
  """query [b, q, heads, d]; key/value [b, k, kv_heads, d]; mask bool broadcastable to [b, heads, q, k].
  Logits scaled by d**-0.5; softmax in float32."""
  if impl == "dot_product_attention":
    return jax.nn.dot_product_attention(query, key, value, mask=mask)
  groups = query.shape[2] // key.shape[2]
  key, value = jnp.repeat(key, groups, axis=2), jnp.repeat(value, groups, axis=2)
  logits = jnp.einsum("bqhd,bkhd->bhqk", query, key, preferred_element_type=jnp.float32)
  logits = jnp.where(mask, logits * query.shape[-1] ** -0.5, _MASKED_LOGIT)
  probs = jax.nn.softmax(logits, axis=-1)
  return jnp.einsum("bhqk,bkhd->bqhd", probs.astype(value.dtype), value)


class Attention(nn.Module):
  """Grouped-query self-attention with rotary positions and an optional key/value cache."""
  config: DecoderConfig
  cache_mode: Optional[str] = None
  cache_length: int = 0

  @nn.compact
  def __call__(self, x, positions, mask):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    kv_kernel_axis = "joined_kv" if cfg.shards_kv_heads else "kv"
    kv_names = ("batch", "length", "heads" if cfg.shards_kv_heads else None, "kv")
    query = Dense((cfg.num_heads, cfg.head_dim), ("embed", "joined_kv"), dtype, name="query")(x)
    key = Dense((cfg.num_kv_heads, cfg.head_dim), ("embed", kv_kernel_axis), dtype, name="key")(x)
    value = Dense((cfg.num_kv_heads, cfg.head_dim), ("embed", kv_kernel_axis), dtype, name="value")(x)
    frequencies = cfg.rope_frequencies()
    query = nn.with_logical_constraint(apply_rotary(query, positions, frequencies),
                                       ("batch", "length", "heads", "kv"))
    key = nn.with_logical_constraint(apply_rotary(key, positions, frequencies), kv_names)
    value = nn.with_logical_constraint(value, kv_names)
    if self.cache_mode is not None:
      key, value = self._use_cache(key, value, positions)
    out = dot_attention(query, key, value, mask, cfg.attention_impl)
    out = nn.with_logical_constraint(out, ("batch", "length", "heads", "kv"))
    out = out.reshape(out.shape[:2] + (cfg.num_heads * cfg.head_dim,))
    out = Dense((x.shape[-1],), ("joined_kv", "embed"), dtype, name="out")(out)
    return nn.with_logical_constraint(out, ACTIVATION)

  def _use_cache(self, key, value, positions):
    batch, length, heads, head_dim = key.shape
    shape = (batch, self.cache_length, heads, head_dim)
    cached_key = self.variable("cache", "cached_key", jnp.zeros, shape, key.dtype)
    cached_value = self.variable("cache", "cached_value", jnp.zeros, shape, value.dtype)
    if self.cache_mode == "prefill":
      cached_key.value = jax.lax.dynamic_update_slice(cached_key.value, key, (0, 0, 0, 0))
      cached_value.value = jax.lax.dynamic_update_slice(cached_value.value, value, (0, 0, 0, 0))
      return key, value
    # step: each row writes its own slot (its position; a scatter XLA does in place), then attends over the cache.
    rows, slots = jnp.arange(batch), positions[:, 0]
    cached_key.value = cached_key.value.at[rows, slots].set(key[:, 0].astype(cached_key.value.dtype))
    cached_value.value = cached_value.value.at[rows, slots].set(value[:, 0].astype(cached_value.value.dtype))
    return cached_key.value, cached_value.value


class DecoderBlock(nn.Module):
  """Pre-norm attention and gated MLP with residuals: sequential (Llama) or parallel (PaLM)."""
  config: DecoderConfig
  deterministic: bool = True
  cache_mode: Optional[str] = None
  cache_length: int = 0
  scanned: bool = False

  @nn.compact
  def __call__(self, x, positions, mask):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(y, deterministic=self.deterministic)
    attention = Attention(cfg, self.cache_mode, self.cache_length, name="attention")
    mlp = GatedMlp(cfg.mlp_dim, cfg.mlp_activation, dtype, name="mlp")
    x = nn.with_logical_constraint(x, ACTIVATION)
    normed = RMSNorm(cfg.rms_norm_eps, dtype, name="pre_attention_norm")(x)
    if cfg.parallel_block:
      x = x + dropout(attention(normed, positions, mask)) + dropout(mlp(normed))
    else:
      x = x + dropout(attention(normed, positions, mask))
      x = x + dropout(mlp(RMSNorm(cfg.rms_norm_eps, dtype, name="pre_mlp_norm")(x)))
    x = nn.with_logical_constraint(x, ACTIVATION)
    return (x, None) if self.scanned else x


def _layer_stack(config: DecoderConfig, **block_kwargs):
  """A callable (x, positions, mask) -> x over all blocks: `layers_{i}`, or one nn.scan named `layers`."""
  block = DecoderBlock
  if config.remat:
    block = nn.remat(block, prevent_cse=not config.scan_layers)
  if config.scan_layers:
    scanned = nn.scan(block, variable_axes={"params": 0, "cache": 0},
                      split_rngs={"params": True, "dropout": True}, in_axes=(nn.broadcast, nn.broadcast),
                      length=config.num_layers, metadata_params={nn.PARTITION_NAME: "layers"},
                      )(config, scanned=True, name="layers", **block_kwargs)
    return lambda x, positions, mask: scanned(x, positions, mask)[0]
  blocks = [block(config, name=f"layers_{i}", **block_kwargs) for i in range(config.num_layers)]

  def run(x, positions, mask):
    for b in blocks:
      x = b(x, positions, mask)
    return x
  return run


class DecoderOnly(nn.Module):
  """Decoder-only transformer; __call__ returns float32 logits [batch, length, vocab]."""
  config: DecoderConfig

  def dummy_inputs(self):
    """Arguments for `init`: parameter shapes do not depend on the batch or the length."""
    return (jnp.ones((1, 8), jnp.int32),)

  @nn.compact
  def __call__(self, decoder_input_tokens, decoder_segment_ids=None, decoder_positions=None,
               decoder_causal_attention=None, enable_dropout: bool = False, cache_mode: Optional[str] = None,
               cache_length: Optional[int] = None, logits_at=None):
    """logits_at: optional int [batch]; then only the logits at that position of each row, [batch, 1, vocab]
    (a prefill needs the last prompt position only, not [batch, length, vocab])."""
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    tokens = decoder_input_tokens
    _check_inputs(tokens, decoder_segment_ids, decoder_positions, decoder_causal_attention, cache_mode,
                  cache_length)
    batch, length = tokens.shape
    if decoder_positions is None:
      positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32)[None, :], (batch, length))
    else:
      positions = jnp.asarray(decoder_positions, jnp.int32)
    if cache_mode == "step":
      mask = step_mask(positions, cache_length)
    else:
      mask = attention_mask(length, decoder_segment_ids, decoder_causal_attention)
    embedder = Embed(cfg.vocab_size, cfg.emb_dim, dtype, name="token_embedder")
    deterministic = not enable_dropout
    x = embedder(tokens)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = nn.with_logical_constraint(x, ACTIVATION)
    x = _layer_stack(cfg, deterministic=deterministic, cache_mode=cache_mode,
                     cache_length=cache_length or 0)(x, positions, mask)
    x = RMSNorm(cfg.rms_norm_eps, dtype, name="decoder_norm")(x)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = nn.with_logical_constraint(x, ACTIVATION).astype(jnp.float32)
    if logits_at is not None:
      if tuple(jnp.shape(logits_at)) != (batch,):
        raise ValueError(f"logits_at must be one position per row, shape ({batch},); got {jnp.shape(logits_at)}")
      x = jnp.take_along_axis(x, jnp.asarray(logits_at, jnp.int32)[:, None, None], axis=1)
    if cfg.tie_embeddings:
      logits = embedder.attend(x * cfg.emb_dim ** -0.5 if cfg.scale_tied_logits else x)
    else:
      logits = Dense((cfg.vocab_size,), ("embed", "vocab"), jnp.float32, name="logits_dense")(x)
    return nn.with_logical_constraint(logits, ("batch", "length", "vocab"))


def _check_inputs(tokens, segment_ids, positions, causal_attention, cache_mode, cache_length):
  if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise ValueError(f"decoder_input_tokens must be an integer array [batch, length], got shape "
                     f"{tokens.shape} dtype {tokens.dtype}")
  for name, array in (("decoder_segment_ids", segment_ids), ("decoder_positions", positions),
                      ("decoder_causal_attention", causal_attention)):
    if array is not None and tuple(array.shape) != tuple(tokens.shape):
      raise ValueError(f"{name} has shape {tuple(array.shape)} but decoder_input_tokens has shape "
                       f"{tuple(tokens.shape)}; they must match")
  if cache_mode not in CACHE_MODES:
    raise ValueError(f"cache_mode must be one of {CACHE_MODES}, got {cache_mode!r}")
  if cache_mode is None:
    return
  if not cache_length or cache_length < tokens.shape[1]:
    raise ValueError(f"cache_mode={cache_mode!r} needs cache_length >= {tokens.shape[1]} (the tokens' length), "
                     f"got {cache_length!r}")
  if segment_ids is not None:
    raise ValueError("cached decoding takes one example per row: no decoder_segment_ids")
  if cache_mode == "step" and (tokens.shape[1] != 1 or positions is None):
    raise ValueError(f"cache_mode='step' takes one token per row [batch, 1] and its decoder_positions; got "
                     f"tokens of shape {tuple(tokens.shape)}, positions {'absent' if positions is None else 'given'}")
