"""Building blocks of the T5 network: RMS norm, bias-free dense layers, embedding, MLP."""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flan import xla_options

# T5X's initializers (facts): fan-in scaled normal for dense kernels, unit normal embeddings.
default_kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
embedding_init = nn.initializers.normal(stddev=1.0)


class RMSNorm(nn.Module):
  """T5 layer norm: scale only, no mean subtraction, no bias; computed in float32."""
  epsilon: float = 1e-6
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = jnp.asarray(x, jnp.float32)
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                       (x.shape[-1],), jnp.float32)
    variance = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    y = x * jax.lax.rsqrt(variance + self.epsilon)
    return jnp.asarray(y * scale, self.dtype)


class Dense(nn.Module):
  """Bias-free projection of the last axis to `features` (a tuple gives several axes).

  The kernel is stored 2-D [in, prod(features)] like T5X checkpoints, float32, and cast
  to `dtype` for the matmul.
  """
  features: Sequence[int]
  kernel_axes: Sequence[str]
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = default_kernel_init

  @nn.compact
  def __call__(self, x):
    features = tuple(self.features)
    kernel = self.param("kernel", nn.with_logical_partitioning(self.kernel_init, self.kernel_axes),
                        (x.shape[-1], int(np.prod(features))), jnp.float32)
    return dense_apply(x, kernel, features, self.dtype)


@jax.custom_vjp
def matmul_with_explicit_gradients(x, kernel):
  """x [..., in] @ kernel [in, out], differentiated by two plain einsums.

  Same values and gradients as autodiff's. The dense layers use it on the CPU backend, where XLA's
  compiler otherwise writes the incoming gradient (e.g. the [tokens, vocab] logits gradient, the
  feed-forward hidden gradient) in a transposed layout for the kernel's gradient: a strided pass over
  the step's largest arrays (measured: loss-layer backward 1.3-1.6x, small's train step ~1.2x slower).
  Inside jax.checkpoint, policies that save dots do not see through it (CPU only, gradients unchanged)."""
  return jnp.einsum("...i,io->...o", x, kernel)


def _matmul_fwd(x, kernel):
  return matmul_with_explicit_gradients(x, kernel), (x, kernel)


def _matmul_bwd(residuals, grad):
  x, kernel = residuals
  grad_x = jnp.einsum("...o,io->...i", grad, kernel).astype(x.dtype)
  grad_kernel = jnp.einsum("...i,...o->io", x, grad).astype(kernel.dtype)
  return grad_x, grad_kernel


matmul_with_explicit_gradients.defvjp(_matmul_fwd, _matmul_bwd)


def dense_apply(x, kernel, features, dtype):
  """x [..., in] @ kernel [in, prod(features)] -> [..., *features], computed in `dtype`."""
  x = jnp.asarray(x, dtype)
  if _cpu_backend():
    y = matmul_with_explicit_gradients(x, jnp.asarray(kernel, dtype))
    return y.reshape(x.shape[:-1] + tuple(features))
  kernel = jnp.asarray(kernel, dtype).reshape((x.shape[-1],) + tuple(features))
  return jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


def _cpu_backend() -> bool:
  return xla_options.target_platform() == "cpu"


class JoinedDense(nn.Module):
  """Projection of several trailing axes (e.g. heads, head_dim) to `features`.

  Kernel stored 2-D [prod(in axes), features] like T5X checkpoints.
  """
  features: int
  num_input_axes: int
  kernel_axes: Sequence[str]
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = default_kernel_init

  @nn.compact
  def __call__(self, x):
    in_shape = x.shape[-self.num_input_axes:]
    kernel = self.param("kernel", nn.with_logical_partitioning(self.kernel_init, self.kernel_axes),
                        (int(np.prod(in_shape)), self.features), jnp.float32)
    x = jnp.asarray(x, self.dtype)
    if _cpu_backend():
      joined = x.reshape(x.shape[:-self.num_input_axes] + (kernel.shape[0],))
      return matmul_with_explicit_gradients(joined, jnp.asarray(kernel, self.dtype))
    kernel = jnp.asarray(kernel, self.dtype).reshape(in_shape + (self.features,))
    contract = tuple(range(x.ndim - self.num_input_axes, x.ndim))
    return jax.lax.dot_general(
        x, kernel, ((contract, tuple(range(self.num_input_axes))), ((), ())))


class Embed(nn.Module):
  """Token embedding [vocab, emb]; `attend` gives the tied output projection."""
  num_embeddings: int
  features: int
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.embedding = self.param(
        "embedding", nn.with_logical_partitioning(embedding_init, ("vocab", "embed")),
        (self.num_embeddings, self.features), jnp.float32)

  def __call__(self, tokens):
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
      raise ValueError(f"token ids must be integers, got dtype {tokens.dtype}")
    return jnp.asarray(jnp.take(self.embedding, tokens, axis=0), self.dtype)

  def attend(self, x):
    """float32 logits x @ embedding.T."""
    return jnp.einsum("...d,vd->...v", jnp.asarray(x, jnp.float32), self.embedding)


class MlpBlock(nn.Module):
  """T5 feed-forward: gated GELU (v1.1: gelu(wi_0 x) * wi_1 x) or ReLU (original T5)."""
  mlp_dim: int
  feed_forward: str = "gated-gelu"
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, deterministic: bool = True):
    emb_dim = x.shape[-1]
    dense = lambda name: Dense((self.mlp_dim,), ("embed", "mlp"), self.dtype, name=name)
    if self.feed_forward == "gated-gelu":
      # tanh-approximated GELU, as T5 v1.1 ("gelu_new" in Hugging Face).
      hidden = jax.nn.gelu(dense("wi_0")(x), approximate=True) * dense("wi_1")(x)
    elif self.feed_forward == "relu":
      hidden = jax.nn.relu(dense("wi")(x))
    else:
      raise ValueError(f"unknown feed_forward {self.feed_forward!r}")
    hidden = nn.with_logical_constraint(hidden, ("batch", "length", "mlp"))
    hidden = nn.Dropout(self.dropout_rate, broadcast_dims=(-2,))(hidden, deterministic=deterministic)
    out = Dense((emb_dim,), ("mlp", "embed"), self.dtype, name="wo")(hidden)
    return nn.with_logical_constraint(out, ("batch", "length", "embed"))
