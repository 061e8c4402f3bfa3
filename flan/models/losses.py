"""Token cross-entropy with z-loss and label smoothing, and the T5X loss normalizers."""
import functools
from typing import Union

import jax
import jax.numpy as jnp
import numpy as np

NORMALIZERS = ("sum", "per_token", "per_sequence")


def cross_entropy_loss(logits, targets, weights, z_loss: float = 1e-4,
                       label_smoothing: float = 0.0,
                       loss_normalizer: Union[str, float] = "per_token", segment_ids=None):
  """Weighted cross-entropy of `targets` [b, t] under `logits` [b, t, vocab].

  Per token: -sum_v q_v log p_v + z_loss * logsumexp(logits)^2, where q is the one-hot
  target smoothed by `label_smoothing` (minus the constant entropy of q, so a perfect
  prediction scores 0). Summed with `weights` [b, t] and divided by the normalizer:
  "sum" (1), "per_token" (sum of weights), "per_sequence" (see `loss_weights_and_normalizer`)
  or a float constant (e.g. 233472.0 for Mesh-TF-pretrained T5).
  Returns (loss, {"cross_entropy", "z_loss", "num_tokens"}), all normalized alike.
  """
  if logits.ndim != 3:
    raise ValueError(f"logits must be [batch, length, vocab], got shape {logits.shape}")
  if targets.shape != logits.shape[:2]:
    raise ValueError(f"targets shape {targets.shape} does not match logits {logits.shape[:2]}")
  if weights is None:
    weights = jnp.ones(targets.shape, jnp.float32)
  if weights.shape != targets.shape:
    raise ValueError(f"weights shape {weights.shape} does not match targets {targets.shape}")
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
  if segment_ids is not None and segment_ids.shape != targets.shape:
    raise ValueError(f"segment_ids shape {segment_ids.shape} does not match targets "
                     f"{targets.shape}")
  logits = logits.astype(jnp.float32)
  weights = weights.astype(jnp.float32)
  num_tokens = jnp.sum(weights)
  weights, normalizer = loss_weights_and_normalizer(loss_normalizer, weights, segment_ids)
  cross_entropy, log_z = _token_cross_entropy(logits, targets.astype(jnp.int32), float(label_smoothing))
  z_term = z_loss * jnp.square(log_z)

  total_ce = jnp.sum(cross_entropy * weights)
  total_z = jnp.sum(z_term * weights)
  loss = (total_ce + total_z) / normalizer
  return loss, {"cross_entropy": total_ce / normalizer, "z_loss": total_z / normalizer,
                "num_tokens": num_tokens}


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _token_cross_entropy(logits, targets, label_smoothing):
  """Per-token cross-entropy [b, t] against the smoothed one-hot targets, and log Z = logsumexp(logits).

  With q = confidence at the target and low elsewhere, and log p = logits - log Z:
  -sum_v q_v log p_v - H(q) = (confidence - low) (log Z - logit_target) + low (V log Z - sum_v logit_v) - H(q).
  """
  return _token_cross_entropy_fwd(logits, targets, label_smoothing)[0]


def _token_cross_entropy_fwd(logits, targets, label_smoothing):
  vocab = logits.shape[-1]
  log_z = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  cross_entropy = log_z - target_logit
  if label_smoothing:
    confidence, low = 1.0 - label_smoothing, label_smoothing / (vocab - 1)
    cross_entropy = ((confidence - low) * cross_entropy + low * (vocab * log_z - jnp.sum(logits, axis=-1))
                     - _smoothed_entropy(confidence, low, vocab))
  return (cross_entropy, log_z), (logits, targets, log_z)


def _token_cross_entropy_bwd(label_smoothing, residuals, grads):
  """d/dlogit_v = p_v (g_ce + 2 log Z g_logz') - g_ce ((confidence - low) [v = target] + low), where
  g_logz' is the cotangent of log Z (confidence + low (V - 1) = 1 folds the smoothing into p_v).

  Written by hand so that the [tokens, vocab] gradient is one elementwise pass (no scatter of the
  target's one-hot) and is materialized once for both matmuls of the output layer that read it."""
  logits, targets, log_z = residuals
  g_ce, g_log_z = grads
  vocab = logits.shape[-1]
  confidence, low = 1.0 - label_smoothing, label_smoothing / (vocab - 1)
  probs = jnp.exp(logits - log_z[..., None])
  is_target = jnp.arange(vocab, dtype=jnp.int32) == targets[..., None]
  grad = probs * (g_ce + g_log_z)[..., None] - g_ce[..., None] * jnp.where(is_target, confidence, low)
  return jax.lax.optimization_barrier(grad), None


_token_cross_entropy.defvjp(_token_cross_entropy_fwd, _token_cross_entropy_bwd)


def _smoothed_entropy(confidence: float, low: float, vocab: int) -> float:
  """-sum_v q_v log q_v of the smoothed target distribution (0 without smoothing)."""
  if low == 0.0:
    return 0.0
  return -(confidence * np.log(confidence) + (vocab - 1) * low * np.log(low))


def loss_weights_and_normalizer(loss_normalizer, weights, segment_ids=None):
  """The token weights to sum the loss with and the factor to divide the sum by.

  "per_sequence" is T5X's AVERAGE_PER_SEQUENCE: every sequence (a row, or with `segment_ids` each
  packed segment with id > 0) is averaged over its weighted tokens, then the sequences are averaged.
  """
  if isinstance(loss_normalizer, str):
    if loss_normalizer == "sum":
      return weights, jnp.float32(1.0)
    if loss_normalizer == "per_token":
      return weights, jnp.maximum(jnp.sum(weights), 1e-8)
    if loss_normalizer == "per_sequence":
      if segment_ids is None:
        sequence_total = jnp.sum(weights, axis=-1, keepdims=True)
      else:
        same = (segment_ids[:, :, None] == segment_ids[:, None, :]) & (segment_ids[:, None, :] > 0)
        sequence_total = jnp.einsum("btu,bu->bt", same.astype(jnp.float32), weights)
      # each sequence's weights now sum to 1, so their total counts the sequences.
      weights = jnp.where(sequence_total > 0, weights / jnp.where(sequence_total > 0,
                                                                  sequence_total, 1.0), 0.0)
      return weights, jnp.maximum(jnp.sum(weights), 1e-8)
    raise ValueError(f"unknown loss_normalizer {loss_normalizer!r}; use one of {NORMALIZERS} "
                     "or a positive number")
  if isinstance(loss_normalizer, bool) or not isinstance(loss_normalizer, (int, float)):
    raise ValueError(f"loss_normalizer must be one of {NORMALIZERS} or a positive number, "
                     f"got {loss_normalizer!r}")
  if loss_normalizer <= 0:
    raise ValueError(f"constant loss_normalizer must be positive, got {loss_normalizer}")
  return weights, jnp.float32(loss_normalizer)
