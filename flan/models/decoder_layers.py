"""Small layers of the decoder-only network: RMS norm, bias-free dense, token embedding, gated MLP.

Kernels are stored 2-D [in, out] in float32 (like T5X checkpoints and flan's T5) and cast to the
activation dtype for the matmul.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
embedding_init = nn.initializers.normal(stddev=1.0)


class RMSNorm(nn.Module):
  """x * rsqrt(mean(x^2) + eps) * scale, in float32 (Llama's and T5's norm), cast to `dtype`."""
  epsilon: float
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = jnp.asarray(x, jnp.float32)
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                       (x.shape[-1],), jnp.float32)
    y = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + self.epsilon)
    return jnp.asarray(y * scale, self.dtype)


class Dense(nn.Module):
  """x [..., in] -> [..., *features] with a kernel stored [in, prod(features)]; no bias."""
  features: Sequence[int]
  kernel_axes: Sequence[str]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    features = tuple(self.features)
    kernel = self.param("kernel", nn.with_logical_partitioning(kernel_init, tuple(self.kernel_axes)),
                        (x.shape[-1], int(np.prod(features))), jnp.float32)
    kernel = jnp.asarray(kernel, self.dtype).reshape((x.shape[-1],) + features)
    x = jnp.asarray(x, self.dtype)
    return jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


class Embed(nn.Module):
  """Token embedding [vocab, emb]; `attend` is the tied output layer (float32 logits)."""
  num_embeddings: int
  features: int
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.embedding = self.param("embedding", nn.with_logical_partitioning(embedding_init, ("vocab", "embed")),
                                (self.num_embeddings, self.features), jnp.float32)

  def __call__(self, tokens):
    return jnp.asarray(jnp.take(self.embedding, tokens, axis=0), self.dtype)

  def attend(self, x):
    return jnp.einsum("...d,vd->...v", jnp.asarray(x, jnp.float32), self.embedding)


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
