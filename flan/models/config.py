"""T5 network configuration and the size table (T5 v1.1 sizes from DESIGN.md)."""
import dataclasses
from typing import Any, Optional, Union

import gin

FEED_FORWARD_KINDS = ("gated-gelu", "relu")
# flan.models.attention_kernels describes each; "auto" picks per backend.
ATTENTION_IMPLS = ("auto", "xla", "dot_product_attention", "cudnn", "pallas")
# flan.models.remat describes each (what a layer keeps for the backward pass).
REMAT_POLICIES = ("none", "full", "save_dots", "save_dense", "save_qkv", "offload_dense")
DTYPES = ("bfloat16", "float32", "float16")


@dataclasses.dataclass(frozen=True)
class T5Config:
  """Hyperparameters of a T5 encoder-decoder.

  Parameters are always float32; `dtype` is the activation dtype. RMSNorm, softmax
  and the output logits are computed in float32 whatever `dtype` is.

  attention_dropout: dropout on the attention weights; None = dropout_rate (T5X applies dropout_rate
  there too). 0 lets training use the fused attention kernels (attention_impl "auto").
  remat: the rematerialization policy of each layer, one of REMAT_POLICIES (True = "full",
  False = "none").
  """
  emb_dim: int
  num_heads: int
  head_dim: int
  mlp_dim: int
  num_encoder_layers: int
  num_decoder_layers: int
  vocab_size: int = 32128
  dropout_rate: float = 0.0
  dtype: str = "bfloat16"
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  layer_norm_epsilon: float = 1e-6
  feed_forward: str = "gated-gelu"
  logits_via_embedding: bool = False
  remat: Union[str, bool] = "none"
  scan_layers: bool = False
  attention_impl: str = "auto"
  attention_dropout: Optional[float] = None

  def __post_init__(self):
    if isinstance(self.remat, bool):
      object.__setattr__(self, "remat", "full" if self.remat else "none")
    if self.remat not in REMAT_POLICIES:
      raise ValueError(f"T5Config.remat must be one of {REMAT_POLICIES} (or True/False), got {self.remat!r}")
    if self.attention_dropout is not None and not 0.0 <= self.attention_dropout < 1.0:
      raise ValueError(f"T5Config.attention_dropout must be in [0, 1) or None, got {self.attention_dropout!r}")
    for name in ("emb_dim", "num_heads", "head_dim", "mlp_dim", "num_encoder_layers",
                 "num_decoder_layers", "vocab_size", "relative_attention_num_buckets",
                 "relative_attention_max_distance"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"T5Config.{name} must be a positive int, got {value!r}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"T5Config.dropout_rate must be in [0, 1), got {self.dropout_rate!r}")
    if self.dtype not in DTYPES:
      raise ValueError(f"T5Config.dtype must be one of {DTYPES}, got {self.dtype!r}")
    if self.feed_forward not in FEED_FORWARD_KINDS:
      raise ValueError(
          f"T5Config.feed_forward must be one of {FEED_FORWARD_KINDS}, got {self.feed_forward!r}")
    if self.attention_impl not in ATTENTION_IMPLS:
      raise ValueError(
          f"T5Config.attention_impl must be one of {ATTENTION_IMPLS}, got {self.attention_impl!r}")
    if self.relative_attention_num_buckets < 2:
      raise ValueError("T5Config.relative_attention_num_buckets must be >= 2, got "
                       f"{self.relative_attention_num_buckets}")
    if self.layer_norm_epsilon <= 0:
      raise ValueError(
          f"T5Config.layer_norm_epsilon must be positive, got {self.layer_norm_epsilon!r}")

  def replace(self, **changes: Any) -> "T5Config":
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
    if unknown:
      raise ValueError(f"unknown T5Config fields {unknown}")
    return dataclasses.replace(self, **changes)

  @property
  def attention_dropout_rate(self) -> float:
    """Dropout on attention weights: attention_dropout, or dropout_rate when that is None."""
    return self.dropout_rate if self.attention_dropout is None else self.attention_dropout

  @property
  def joined_kv_dim(self) -> int:
    return self.num_heads * self.head_dim


# d_model / d_ff / heads x d_kv / encoder + decoder layers (T5 v1.1, DESIGN.md).
SIZES = {
    "tiny": dict(emb_dim=32, mlp_dim=64, num_heads=4, head_dim=8,
                 num_encoder_layers=2, num_decoder_layers=2),
    "small": dict(emb_dim=512, mlp_dim=1024, num_heads=6, head_dim=64,
                  num_encoder_layers=8, num_decoder_layers=8),
    "base": dict(emb_dim=768, mlp_dim=2048, num_heads=12, head_dim=64,
                 num_encoder_layers=12, num_decoder_layers=12),
    "large": dict(emb_dim=1024, mlp_dim=2816, num_heads=16, head_dim=64,
                  num_encoder_layers=24, num_decoder_layers=24),
    "xl": dict(emb_dim=2048, mlp_dim=5120, num_heads=32, head_dim=64,
               num_encoder_layers=24, num_decoder_layers=24),
    "xxl": dict(emb_dim=4096, mlp_dim=10240, num_heads=64, head_dim=64,
                num_encoder_layers=24, num_decoder_layers=24),
}


@gin.configurable(module="flan.models")
def get_config(size: str, **overrides: Any) -> T5Config:
  """The T5 v1.1 config of a named size, with any field overridden.

  In gin: `get_config.size = 'base'` and e.g. `get_config.dropout_rate = 0.05`.
  """
  if size not in SIZES:
    raise ValueError(f"unknown model size {size!r}; known sizes: {', '.join(SIZES)}")
  fields = {f.name for f in dataclasses.fields(T5Config)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f"unknown T5Config fields {unknown} for get_config({size!r}); "
                     f"known fields: {sorted(fields)}")
  return T5Config(**{**SIZES[size], **overrides})
