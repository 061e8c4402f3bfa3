"""Layers of the decoder-only network. RMS norm, bias-free dense and token embedding are T5's
(flan.models.layers: kernels stored 2-D [in, out] in float32 and cast to the activation dtype for the matmul,
with the CPU backend's explicit-gradient matmul); the gated MLP is the decoder family's own."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from flan.models.layers import Dense, Embed, RMSNorm

__all__ = ["Dense", "Embed", "GatedMlp", "RMSNorm"]


class GatedMlp(nn.Module):
  """act(wi_0 x) * (wi_1 x) -> wo; with act = silu this is SwiGLU (Llama gate/up/down projections)."""
  mlp_dim: int
  activation: str
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    act = {"silu": jax.nn.silu, "gelu": jax.nn.gelu}[self.activation]
    dense = lambda name: Dense((self.mlp_dim,), ("embed", "mlp"), self.dtype, name=name)
    hidden = act(dense("wi_0")(x)) * dense("wi_1")(x)
    hidden = nn.with_logical_constraint(hidden, ("batch", "length", "mlp"))
    out = Dense((x.shape[-1],), ("mlp", "embed"), self.dtype, name="wo")(hidden)
    return nn.with_logical_constraint(out, ("batch", "length", "embed"))
