"""Model FLOPs of a T5 train step and accelerator peak FLOPs, for MFU.

FLOPs count matrix multiplies only (2 per multiply-add), on padded lengths (the work the hardware does);
a train step is 3x the forward pass (forward, and backward with respect to activations and weights).
"""
PEAK_BF16_FLOPS_PER_DEVICE = {  # dense bf16, vendor spec sheets
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,  # v5e
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,
    "A100": 312e12,
    "H100": 989e12,  # SXM
    "H200": 989e12,
}


def peak_flops_per_device(device_kind):
  """Peak bf16 FLOP/s for a jax `device.device_kind`, or None when the device is not in the table."""
  kind = device_kind.upper()
  for name in sorted(PEAK_BF16_FLOPS_PER_DEVICE, key=len, reverse=True):
    if name.upper() in kind:
      return PEAK_BF16_FLOPS_PER_DEVICE[name]
  return None


def forward_flops(config, batch_size, input_length, target_length):
  """Forward-pass matmul FLOPs of one batch through the encoder-decoder (including the output layer)."""
  emb, kv, mlp = config.emb_dim, config.num_heads * config.head_dim, config.mlp_dim
  mlp_inputs = 2 if config.feed_forward == "gated-gelu" else 1
  mlp_params = (mlp_inputs + 1) * emb * mlp
  s, t = input_length, target_length
  encoder_layer = s * (4 * emb * kv + mlp_params) + 2 * s * s * kv  # projections, mlp; scores and values
  decoder_layer = (t * (4 * emb * kv + mlp_params) + 2 * t * t * kv      # self-attention, mlp
                   + t * 2 * emb * kv + s * 2 * emb * kv + 2 * t * s * kv)  # cross-attention q/o, k/v, scores
  output = t * emb * config.vocab_size
  per_example = (config.num_encoder_layers * encoder_layer + config.num_decoder_layers * decoder_layer + output)
  return 2.0 * batch_size * per_example


def train_step_flops(config, batch_size, input_length, target_length):
  """Model FLOPs of one train step (3x the forward pass); decoder-only rows hold inputs + targets."""
  from flan.models.decoder_config import DecoderConfig  # pylint: disable=import-outside-toplevel
  if isinstance(config, DecoderConfig):
    from flan.models import decoder_flops  # pylint: disable=import-outside-toplevel
    return decoder_flops.train_step_flops(config, batch_size, input_length + target_length)
  return 3.0 * forward_flops(config, batch_size, input_length, target_length)
