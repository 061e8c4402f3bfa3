"""Configuration of the decoder-only transformer (PaLM and Llama designs) and its size table."""
import dataclasses
from typing import Any

import gin

from flan.models.rotary import ROPE_TYPES, inverse_frequencies

MLP_ACTIVATIONS = ("silu", "gelu")  # gated: act(wi_0 x) * wi_1 x; "silu" is SwiGLU
ATTENTION_IMPLS = ("xla", "dot_product_attention")
DTYPES = ("bfloat16", "float32", "float16")


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  """Hyperparameters of a decoder-only transformer.

  Pre-norm RMSNorm blocks, rotary positions (Hugging Face's rotate-half layout, base `rope_theta`), gated MLP,
  no biases, attention logits scaled by head_dim**-0.5. `num_kv_heads` < `num_heads` is grouped-query
  attention (1 = PaLM's multi-query attention). `parallel_block` computes x + attn(norm(x)) + mlp(norm(x))
  with one norm (PaLM); otherwise attention and MLP are sequential with a norm each (Llama).
  `tie_embeddings` uses the token embedding as the output layer; `scale_tied_logits` then multiplies the
  logits by emb_dim**-0.5 (PaLM). Parameters are float32; `dtype` is the activation dtype; norms, softmax and
  logits are float32. Dropout (`dropout_rate`) applies to the embeddings and each residual branch.
  `prefix_lm`: the model is trained and used as a prefix LM (the inputs part of each example attends
  bidirectionally, seqio's decoder_causal_attention); decoding and scoring then give the prompt that mask.
  """
  vocab_size: int
  emb_dim: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  num_layers: int
  dropout_rate: float = 0.0
  dtype: str = "bfloat16"
  rms_norm_eps: float = 1e-6
  rope_theta: float = 10000.0
  mlp_activation: str = "silu"
  parallel_block: bool = False
  tie_embeddings: bool = True
  scale_tied_logits: bool = False
  remat: bool = False
  scan_layers: bool = False
  attention_impl: str = "dot_product_attention"
  prefix_lm: bool = False
  # Rotary frequency scaling (flan.models.rotary): "default" (none), "linear" or "llama3" (Llama 3.1 / 3.2).
  rope_type: str = "default"
  rope_factor: float = 1.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_positions: int = 8192

  def __post_init__(self):
    for name in ("vocab_size", "emb_dim", "num_heads", "num_kv_heads", "head_dim", "mlp_dim", "num_layers"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"DecoderConfig.{name} must be a positive int, got {value!r}")
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"DecoderConfig.num_heads={self.num_heads} must be a multiple of "
                       f"num_kv_heads={self.num_kv_heads}")
    if self.head_dim % 2:
      raise ValueError(f"DecoderConfig.head_dim must be even for rotary positions, got {self.head_dim}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"DecoderConfig.dropout_rate must be in [0, 1), got {self.dropout_rate!r}")
    if self.dtype not in DTYPES:
      raise ValueError(f"DecoderConfig.dtype must be one of {DTYPES}, got {self.dtype!r}")
    if self.mlp_activation not in MLP_ACTIVATIONS:
      raise ValueError(f"DecoderConfig.mlp_activation must be one of {MLP_ACTIVATIONS}, "
                       f"got {self.mlp_activation!r}")
    if self.attention_impl not in ATTENTION_IMPLS:
      raise ValueError(f"DecoderConfig.attention_impl must be one of {ATTENTION_IMPLS}, "
                       f"got {self.attention_impl!r}")
    if self.rms_norm_eps <= 0 or self.rope_theta <= 0:
      raise ValueError("DecoderConfig.rms_norm_eps and rope_theta must be positive, got "
                       f"{self.rms_norm_eps!r} and {self.rope_theta!r}")
    if self.rope_type not in ROPE_TYPES:
      raise ValueError(f"DecoderConfig.rope_type must be one of {ROPE_TYPES}, got {self.rope_type!r}")
    if self.rope_factor <= 0:
      raise ValueError(f"DecoderConfig.rope_factor must be positive, got {self.rope_factor!r}")
    if self.rope_type == "llama3" and not (self.rope_high_freq_factor > self.rope_low_freq_factor > 0
                                           and self.rope_original_max_positions > 0):
      raise ValueError("DecoderConfig rope_type 'llama3' needs rope_high_freq_factor > rope_low_freq_factor > 0 "
                       "and rope_original_max_positions > 0")
    if self.scale_tied_logits and not self.tie_embeddings:
      raise ValueError("DecoderConfig.scale_tied_logits needs tie_embeddings=True")

  def replace(self, **changes: Any) -> "DecoderConfig":
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
    if unknown:
      raise ValueError(f"unknown DecoderConfig fields {unknown}")
    return dataclasses.replace(self, **changes)

  def rope_frequencies(self):
    """The rotary frequencies [head_dim / 2] (float32 numpy) of this config."""
    return inverse_frequencies(self.head_dim, self.rope_theta, self.rope_type, self.rope_factor,
                               self.rope_low_freq_factor, self.rope_high_freq_factor,
                               self.rope_original_max_positions)

  @property
  def kv_groups(self) -> int:
    """Query heads per key/value head."""
    return self.num_heads // self.num_kv_heads

  @property
  def shards_kv_heads(self) -> bool:
    """Key/value projections shard over the model axis like queries only with as many kv heads as heads."""
    return self.num_kv_heads == self.num_heads


T5_VOCAB_SIZE = 32128  # flan's data layer tokenizes with the T5 SentencePiece vocabulary (32,000 + 100 + padding)

SIZES = {
    # CPU tests and the demo: grouped-query attention so the tests cover it.
    "tiny": dict(vocab_size=T5_VOCAB_SIZE, emb_dim=32, num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=64,
                 num_layers=2),
    # About 110M parameters with the tied T5 vocabulary: a GPU-sized Llama-style model for real runs.
    "small": dict(vocab_size=T5_VOCAB_SIZE, emb_dim=768, num_heads=12, num_kv_heads=12, head_dim=64,
                  mlp_dim=2048, num_layers=12),
    # PaLM 8B (PaLM paper, Table 1): 32 layers, d_model 4096, 16 heads of 256, d_ff = 4 d_model, multi-query,
    # parallel blocks, shared embeddings, 256k vocabulary.
    "palm_8b": dict(vocab_size=256000, emb_dim=4096, num_heads=16, num_kv_heads=1, head_dim=256,
                    mlp_dim=16384, num_layers=32, parallel_block=True, tie_embeddings=True,
                    scale_tied_logits=True),
    # Llama 2 7B (its Hugging Face config.json): 32 layers, 4096, 32 heads of 128, d_ff 11008, untied, eps 1e-5.
    "llama_7b": dict(vocab_size=32000, emb_dim=4096, num_heads=32, num_kv_heads=32, head_dim=128,
                     mlp_dim=11008, num_layers=32, tie_embeddings=False, rms_norm_eps=1e-5),
}


@gin.configurable(module="flan.models")
def get_decoder_config(size: str, **overrides: Any) -> DecoderConfig:
  """The decoder config of a named size, with any field overridden.

  In gin: `get_decoder_config.size = 'small'` and e.g. `get_decoder_config.dropout_rate = 0.05`.
  """
  if size not in SIZES:
    raise ValueError(f"unknown decoder size {size!r}; known sizes: {', '.join(SIZES)}")
  fields = {f.name for f in dataclasses.fields(DecoderConfig)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f"unknown DecoderConfig fields {unknown} for get_decoder_config({size!r}); "
                     f"known fields: {sorted(fields)}")
  return DecoderConfig(**{**SIZES[size], **overrides})
