"""Rotary position embeddings in Hugging Face's rotate-half layout (Llama).

Head dimension d splits in two halves; the pair (x[i], x[i + d/2]) is rotated by the angle
position * theta ** (-2i / d), i < d/2. Angles are computed in float32 from integer positions.
"""
import jax.numpy as jnp


def inverse_frequencies(head_dim: int, theta: float):
  """[head_dim / 2] float32: theta ** (-2i / head_dim)."""
  exponents = jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim
  return 1.0 / (theta ** exponents)


def apply_rotary(x, positions, theta: float):
  """x [batch, length, heads, head_dim] rotated by integer positions [batch, length]; same dtype as x."""
  head_dim = x.shape[-1]
  angles = positions.astype(jnp.float32)[:, :, None] * inverse_frequencies(head_dim, theta)[None, None, :]
  angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]
  cos, sin = jnp.cos(angles), jnp.sin(angles)
  x32 = x.astype(jnp.float32)
  half = head_dim // 2
  rotated_half = jnp.concatenate([-x32[..., half:], x32[..., :half]], axis=-1)
  return (x32 * cos + rotated_half * sin).astype(x.dtype)
