"""Model FLOPs of the decoder-only family, for MFU (the same counting as flan/trainer/flops.py for T5).

Matrix multiplies only, 2 FLOPs per multiply-add, on the padded length (the work the hardware does); attention
scores and values over the full length x length square (what the kernels compute, mask or not). A train step
is 3x the forward pass. Peak FLOPs per device: flan.trainer.flops.peak_flops_per_device.
"""
from flan.models.decoder_config import DecoderConfig


def forward_flops_per_sequence(config: DecoderConfig, length: int) -> float:
  """Forward-pass FLOPs of one sequence of `length` tokens, output layer included."""
  emb, mlp = config.emb_dim, config.mlp_dim
  q, kv = config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim
  projections = emb * (2 * q + 2 * kv)       # query, out; key, value
  gated_mlp = 3 * emb * mlp                  # wi_0, wi_1, wo
  attention = 2 * length * q                 # scores q.k and the weighted sum of values, per query
  per_token = config.num_layers * (projections + gated_mlp + attention) + emb * config.vocab_size
  return 2.0 * length * per_token


def forward_flops(config: DecoderConfig, batch_size: int, length: int) -> float:
  return batch_size * forward_flops_per_sequence(config, length)


def train_step_flops(config: DecoderConfig, batch_size: int, length: int) -> float:
  """Forward and backward (activations and weights): 3x the forward FLOPs."""
  return 3.0 * forward_flops(config, batch_size, length)


def num_params(config: DecoderConfig) -> int:
  """Parameter count (embedding and untied output layer included)."""
  emb, mlp = config.emb_dim, config.mlp_dim
  q, kv = config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim
  norms = emb if config.parallel_block else 2 * emb
  layer = emb * (2 * q + 2 * kv) + 3 * emb * mlp + norms
  output = 0 if config.tie_embeddings else emb * config.vocab_size
  return config.num_layers * layer + config.vocab_size * emb + emb + output
