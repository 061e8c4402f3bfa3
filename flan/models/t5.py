"""The T5 encoder-decoder (T5 v1.1 by default; original T5 via config) in flax.linen.

The relative position bias of a stack is computed once per call from the row offsets 0..length-1,
[1, heads, q, k], and shared by the batch and the layers (as T5X does). For packed rows this equals the
bias of each example's own positions: within one example key minus query position is the difference of
the offsets (positions restart at 0 and run contiguously, as seqio packs them), and pairs across examples
are masked by the segment ids. The `*_positions` features are accepted and checked but not needed.
"""
from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from flan.models.attention import MultiHeadAttention
from flan.models.config import T5Config
from flan.models.layers import Dense, Embed, MlpBlock, RMSNorm
from flan.models.relative_position import RelativePositionBias
from flan.models.remat import checkpoint_policy

ACTIVATION = ("batch", "length", "embed")


def _check_tokens(name, tokens):
  if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise ValueError(f"{name} must be an integer array [batch, length], got "
                     f"shape {tokens.shape} dtype {tokens.dtype}")


def _check_like(name, array, tokens_name, tokens):
  if array is not None and tuple(array.shape) != tuple(tokens.shape):
    raise ValueError(f"{name} has shape {tuple(array.shape)} but {tokens_name} has shape "
                     f"{tuple(tokens.shape)}; they must match")


def _offsets(length):
  """Row offsets 0..length-1 as [1, length]: the positions of the shared relative bias."""
  return jnp.arange(length, dtype=jnp.int32)[None, :]


def _attention(cfg: T5Config, name: str):
  return MultiHeadAttention(cfg.num_heads, cfg.head_dim, cfg.attention_dropout_rate,
                            jnp.dtype(cfg.dtype), cfg.attention_impl, name=name)


class EncoderLayer(nn.Module):
  """Pre-norm self-attention and feed-forward blocks with residuals."""
  config: T5Config
  deterministic: bool = True
  scanned: bool = False

  @nn.compact
  def __call__(self, x, bias, segment_ids, key_valid):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(
        y, deterministic=self.deterministic)
    x = nn.with_logical_constraint(x, ACTIVATION)
    y = RMSNorm(cfg.layer_norm_epsilon, dtype, name="pre_attention_layer_norm")(x)
    y = _attention(cfg, "attention")(y, y, bias, query_segment_ids=segment_ids,
                                     key_segment_ids=segment_ids, key_valid=key_valid,
                                     deterministic=self.deterministic)
    x = x + dropout(y)
    y = RMSNorm(cfg.layer_norm_epsilon, dtype, name="pre_mlp_layer_norm")(x)
    y = MlpBlock(cfg.mlp_dim, cfg.feed_forward, cfg.dropout_rate, dtype, name="mlp")(
        y, deterministic=self.deterministic)
    x = nn.with_logical_constraint(x + dropout(y), ACTIVATION)
    return (x, None) if self.scanned else x


class DecoderLayer(nn.Module):
  """Pre-norm causal self-attention, cross-attention and feed-forward blocks."""
  config: T5Config
  deterministic: bool = True
  decode: bool = False
  scanned: bool = False

  @nn.compact
  def __call__(self, x, encoded, self_bias, segment_ids, encoder_segment_ids, encoder_valid):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(
        y, deterministic=self.deterministic)
    x = nn.with_logical_constraint(x, ACTIVATION)
    y = RMSNorm(cfg.layer_norm_epsilon, dtype, name="pre_self_attention_layer_norm")(x)
    y = _attention(cfg, "self_attention")(y, y, self_bias, query_segment_ids=segment_ids,
                                          key_segment_ids=segment_ids, causal=True,
                                          deterministic=self.deterministic, decode=self.decode)
    x = x + dropout(y)
    y = RMSNorm(cfg.layer_norm_epsilon, dtype, name="pre_cross_attention_layer_norm")(x)
    # T5 has no position bias in cross-attention.
    y = _attention(cfg, "encoder_decoder_attention")(
        y, encoded, None, query_segment_ids=segment_ids, key_segment_ids=encoder_segment_ids,
        key_valid=encoder_valid, deterministic=self.deterministic, decode_fixed_kv=self.decode)
    x = x + dropout(y)
    y = RMSNorm(cfg.layer_norm_epsilon, dtype, name="pre_mlp_layer_norm")(x)
    y = MlpBlock(cfg.mlp_dim, cfg.feed_forward, cfg.dropout_rate, dtype, name="mlp")(
        y, deterministic=self.deterministic)
    x = nn.with_logical_constraint(x + dropout(y), ACTIVATION)
    return (x, None) if self.scanned else x


def _layer_stack(layer_cls, config: T5Config, num_layers: int, num_broadcast_args: int,
                 **layer_kwargs):
  """A callable (x, *broadcast_args) -> x over all layers: a Python loop of `layers_{i}`
  or one nn.scan named `layers`, each layer rematerialized by the policy `config.remat`."""
  if config.remat != "none":
    layer_cls = nn.remat(layer_cls, prevent_cse=not config.scan_layers,
                         policy=checkpoint_policy(config.remat))
  if config.scan_layers:
    scanned = nn.scan(
        layer_cls,
        variable_axes={"params": 0, "cache": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=(nn.broadcast,) * num_broadcast_args,
        length=num_layers,
        metadata_params={nn.PARTITION_NAME: "layers"},
    )(config, scanned=True, name="layers", **layer_kwargs)

    def run_scanned(x, *args):
      x, _ = scanned(x, *args)
      return x
    return run_scanned
  layers = [layer_cls(config, name=f"layers_{i}", **layer_kwargs) for i in range(num_layers)]

  def run(x, *args):
    for layer in layers:
      x = layer(x, *args)
    return x
  return run


class Encoder(nn.Module):
  """Token embedding (shared), relative position bias, layers, final norm."""
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, tokens, segment_ids=None, positions=None, deterministic: bool = True):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    x = self.shared_embedding(tokens)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = nn.with_logical_constraint(x.astype(dtype), ACTIVATION)
    del positions  # see the module docstring
    offsets = _offsets(tokens.shape[1])
    bias = RelativePositionBias(cfg.num_heads, cfg.relative_attention_num_buckets,
                                cfg.relative_attention_max_distance, bidirectional=True,
                                name="relpos_bias")(offsets, offsets).astype(dtype)
    run_layers = _layer_stack(EncoderLayer, cfg, cfg.num_encoder_layers, 3,
                              deterministic=deterministic)
    x = run_layers(x, bias, segment_ids, tokens > 0)
    x = RMSNorm(cfg.layer_norm_epsilon, dtype, name="encoder_norm")(x)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    return nn.with_logical_constraint(x, ACTIVATION)


class Decoder(nn.Module):
  """Causal decoder with cross-attention; float32 logits. decode=True runs one cached step."""
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, encoded, encoder_tokens, tokens, encoder_segment_ids=None,
               segment_ids=None, positions=None, deterministic: bool = True,
               decode: bool = False, max_decode_length: Optional[int] = None):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    x = self.shared_embedding(tokens)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = nn.with_logical_constraint(x.astype(dtype), ACTIVATION)
    relpos = RelativePositionBias(cfg.num_heads, cfg.relative_attention_num_buckets,
                                  cfg.relative_attention_max_distance, bidirectional=False,
                                  name="relpos_bias")
    stepping = decode and self.has_variable("cache", "decode_step")
    if decode:
      step = self.variable("cache", "decode_step", lambda: jnp.array(0, jnp.int32))
    if stepping:
      if tokens.shape[1] != 1:
        raise ValueError("decode=True after cache creation takes one token per call: "
                         f"decoder_input_tokens has shape {tuple(tokens.shape)}")
      length = max_decode_length or self._cached_length()
      query_pos = (step.value[None, None] if positions is None
                   else jnp.asarray(positions, jnp.int32))
      self_bias = relpos(query_pos, _offsets(length))
      step.value = step.value + 1
    else:
      offsets = _offsets(tokens.shape[1])
      self_bias = relpos(offsets, offsets)
    run_layers = _layer_stack(DecoderLayer, cfg, cfg.num_decoder_layers, 5,
                              deterministic=deterministic, decode=decode)
    x = run_layers(x, encoded.astype(dtype), self_bias.astype(dtype), segment_ids,
                   encoder_segment_ids, encoder_tokens > 0)
    x = RMSNorm(cfg.layer_norm_epsilon, dtype, name="decoder_norm")(x)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = nn.with_logical_constraint(x, ACTIVATION)
    if cfg.logits_via_embedding:
      logits = self.shared_embedding.attend(x.astype(jnp.float32) * cfg.emb_dim ** -0.5)
    else:
      logits = Dense((cfg.vocab_size,), ("embed", "vocab"), jnp.float32,
                     name="logits_dense")(x.astype(jnp.float32))
    return nn.with_logical_constraint(logits, ("batch", "length", "vocab"))

  def _cached_length(self) -> int:
    cache = self.variables["cache"]
    layer = cache["layers"] if self.config.scan_layers else cache["layers_0"]
    return layer["self_attention"]["cached_key"].shape[-2]  # [..., b, heads, length, head_dim]


class Transformer(nn.Module):
  """T5 encoder-decoder. Logits are float32 [batch, target_length, vocab]."""
  config: T5Config

  def dummy_inputs(self):
    """Arguments for `init`: parameter shapes do not depend on the batch or the lengths."""
    return (jnp.ones((1, 8), jnp.int32), jnp.ones((1, 8), jnp.int32))

  def setup(self):
    cfg = self.config
    self.token_embedder = Embed(cfg.vocab_size, cfg.emb_dim, jnp.dtype(cfg.dtype))
    self.encoder = Encoder(cfg, self.token_embedder)
    self.decoder = Decoder(cfg, self.token_embedder)

  def encode(self, encoder_input_tokens, encoder_segment_ids=None, encoder_positions=None,
             enable_dropout: bool = False):
    _check_tokens("encoder_input_tokens", encoder_input_tokens)
    _check_like("encoder_segment_ids", encoder_segment_ids, "encoder_input_tokens",
                encoder_input_tokens)
    _check_like("encoder_positions", encoder_positions, "encoder_input_tokens",
                encoder_input_tokens)
    return self.encoder(encoder_input_tokens, encoder_segment_ids, encoder_positions,
                        deterministic=not enable_dropout)

  def decode(self, encoded, encoder_input_tokens, decoder_input_tokens,
             encoder_segment_ids=None, decoder_segment_ids=None, decoder_positions=None,
             enable_dropout: bool = False, decode: bool = False,
             max_decode_length: Optional[int] = None):
    _check_tokens("encoder_input_tokens", encoder_input_tokens)
    _check_tokens("decoder_input_tokens", decoder_input_tokens)
    _check_like("decoder_segment_ids", decoder_segment_ids, "decoder_input_tokens",
                decoder_input_tokens)
    _check_like("decoder_positions", decoder_positions, "decoder_input_tokens",
                decoder_input_tokens)
    if encoded.shape[:2] != encoder_input_tokens.shape:
      raise ValueError(f"encoded has shape {tuple(encoded.shape)} but encoder_input_tokens has "
                       f"shape {tuple(encoder_input_tokens.shape)}")
    if (decoder_segment_ids is None) != (encoder_segment_ids is None):
      raise ValueError("packed inputs need both encoder_segment_ids and decoder_segment_ids")
    return self.decoder(encoded, encoder_input_tokens, decoder_input_tokens,
                        encoder_segment_ids, decoder_segment_ids, decoder_positions,
                        deterministic=not enable_dropout, decode=decode,
                        max_decode_length=max_decode_length)

  def __call__(self, encoder_input_tokens, decoder_input_tokens, encoder_segment_ids=None,
               decoder_segment_ids=None, encoder_positions=None, decoder_positions=None,
               enable_dropout: bool = False):
    encoded = self.encode(encoder_input_tokens, encoder_segment_ids, encoder_positions,
                          enable_dropout)
    return self.decode(encoded, encoder_input_tokens, decoder_input_tokens,
                       encoder_segment_ids, decoder_segment_ids, decoder_positions,
                       enable_dropout)
