"""Rotary position embeddings in Hugging Face's rotate-half layout (Llama), with the frequency scalings
Hugging Face calls "linear" and "llama3" (Llama 3.1 / 3.2).

Head dimension d splits in two halves; the pair (x[i], x[i + d/2]) is rotated by the angle
position * f_i with f_i = theta ** (-2i / d), i < d/2, before scaling. Angles are computed in float32.
"""
import math

import jax.numpy as jnp
import numpy as np

ROPE_TYPES = ("default", "linear", "llama3")


def inverse_frequencies(head_dim: int, theta: float, rope_type: str = "default", factor: float = 1.0,
                        low_freq_factor: float = 1.0, high_freq_factor: float = 4.0,
                        original_max_positions: int = 8192) -> np.ndarray:
  """[head_dim / 2] float32 frequencies f_i, scaled:
  linear: f_i / factor (positions interpolated by `factor`);
  llama3: wavelengths 2 pi / f_i longer than original_max_positions / low_freq_factor are divided by factor,
  shorter than original_max_positions / high_freq_factor kept, and those between interpolated smoothly."""
  if rope_type not in ROPE_TYPES:
    raise ValueError(f"unknown rope_type {rope_type!r}; known: {ROPE_TYPES}")
  freq = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)))
  freq = freq.astype(np.float32)
  if rope_type == "linear":
    return (freq / np.float32(factor)).astype(np.float32)
  if rope_type == "llama3":
    wavelength = 2 * math.pi / freq
    low_freq_wavelength = original_max_positions / low_freq_factor
    high_freq_wavelength = original_max_positions / high_freq_factor
    scaled = np.where(wavelength > low_freq_wavelength, freq / factor, freq)
    smooth = (original_max_positions / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelength >= high_freq_wavelength) & (wavelength <= low_freq_wavelength)
    return np.where(medium, smoothed, scaled).astype(np.float32)
  return freq


def apply_rotary(x, positions, frequencies):
  """x [batch, length, heads, head_dim] rotated by integer positions [batch, length] and the frequencies
  [head_dim / 2] of `inverse_frequencies`; same dtype as x."""
  head_dim = x.shape[-1]
  angles = positions.astype(jnp.float32)[:, :, None] * jnp.asarray(frequencies, jnp.float32)[None, None, :]
  angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]
  cos, sin = jnp.cos(angles), jnp.sin(angles)
  x32 = x.astype(jnp.float32)
  half = head_dim // 2
  rotated_half = jnp.concatenate([-x32[..., half:], x32[..., :half]], axis=-1)
  return (x32 * cos + rotated_half * sin).astype(x.dtype)
