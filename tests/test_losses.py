"""cross_entropy_loss against a float64 numpy reference."""
import numpy as np
import pytest

from flan.models.losses import cross_entropy_loss


def reference(logits, targets, weights, z_loss, label_smoothing, normalizer, segment_ids=None):
  logits = logits.astype(np.float64)
  batch, length, vocab = logits.shape
  log_z = np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1)) + logits.max(-1)
  log_probs = logits - log_z[..., None]
  soft = np.full(logits.shape, label_smoothing / (vocab - 1))
  for b in range(batch):
    for t in range(length):
      soft[b, t, targets[b, t]] = 1.0 - label_smoothing
  entropy = -np.sum(np.where(soft > 0, soft * np.log(np.where(soft > 0, soft, 1.0)), 0.0), -1)
  per_token = -np.sum(soft * log_probs, -1) - entropy + z_loss * log_z ** 2
  ce_token = -np.sum(soft * log_probs, -1) - entropy
  weights = weights.astype(np.float64)
  if normalizer == "per_sequence":
    seg = np.ones_like(targets) if segment_ids is None else segment_ids
    w = np.zeros_like(weights)
    sequences = 0
    for b in range(batch):
      for s in np.unique(seg[b]):
        members = seg[b] == s
        total = weights[b][members].sum()
        if total > 0:
          w[b][members] = weights[b][members] / total
          sequences += 1
    return np.sum(per_token * w) / sequences, np.sum(ce_token * w) / sequences
  factor = {"sum": 1.0, "per_token": weights.sum()}.get(normalizer, normalizer)
  return np.sum(per_token * weights) / factor, np.sum(ce_token * weights) / factor


@pytest.fixture
def batch():
  rng = np.random.RandomState(0)
  logits = (3.0 * rng.randn(3, 7, 11)).astype(np.float32)
  targets = rng.randint(0, 11, (3, 7)).astype(np.int32)
  weights = (rng.rand(3, 7) > 0.3).astype(np.float32)
  weights[2] = 0.0  # a row with no real targets
  return logits, targets, weights


@pytest.mark.parametrize("normalizer", ["sum", "per_token", "per_sequence", 233472.0])
@pytest.mark.parametrize("z_loss, label_smoothing", [(1e-4, 0.0), (0.0, 0.0), (1e-2, 0.1)])
def test_loss_matches_float64_reference(batch, normalizer, z_loss, label_smoothing):
  logits, targets, weights = batch
  loss, metrics = cross_entropy_loss(logits, targets, weights, z_loss=z_loss,
                                     label_smoothing=label_smoothing, loss_normalizer=normalizer)
  want_loss, want_ce = reference(logits, targets, weights, z_loss, label_smoothing, normalizer)
  np.testing.assert_allclose(float(loss), want_loss, rtol=2e-6)
  np.testing.assert_allclose(float(metrics["cross_entropy"]), want_ce, rtol=2e-6)
  np.testing.assert_allclose(float(metrics["z_loss"]), want_loss - want_ce, rtol=1e-4,
                             atol=1e-12)
  assert float(metrics["num_tokens"]) == weights.sum()


def test_per_sequence_with_packed_segments(batch):
  logits, targets, weights = batch
  segment_ids = np.array([[1, 1, 1, 2, 2, 3, 0], [1, 1, 1, 1, 2, 2, 2], [1, 1, 0, 0, 0, 0, 0]])
  weights = weights * (segment_ids > 0)
  loss, _ = cross_entropy_loss(logits, targets, weights, loss_normalizer="per_sequence",
                               segment_ids=segment_ids)
  want, _ = reference(logits, targets, weights, 1e-4, 0.0, "per_sequence", segment_ids)
  np.testing.assert_allclose(float(loss), want, rtol=2e-6)


def test_perfect_smoothed_prediction_has_zero_cross_entropy():
  vocab, smoothing = 5, 0.2
  soft = np.full(vocab, smoothing / (vocab - 1))
  soft[3] = 1 - smoothing
  logits = np.log(soft)[None, None].astype(np.float32)
  _, metrics = cross_entropy_loss(logits, np.array([[3]]), np.ones((1, 1), np.float32),
                                  z_loss=0.0, label_smoothing=smoothing)
  assert abs(float(metrics["cross_entropy"])) < 1e-6


@pytest.mark.parametrize("kwargs, message", [
    (dict(loss_normalizer="mean"), "unknown loss_normalizer 'mean'"),
    (dict(loss_normalizer=-1.0), "must be positive"),
    (dict(label_smoothing=1.0), "label_smoothing must be in"),
    (dict(weights=np.ones((3, 6), np.float32)), "weights shape"),
    (dict(targets=np.ones((3, 6), np.int32)), "targets shape"),
])
def test_bad_arguments(batch, kwargs, message):
  logits, targets, weights = batch
  args = {"logits": logits, "targets": targets, "weights": weights, **kwargs}
  with pytest.raises(ValueError, match=message):
    cross_entropy_loss(**args)


def test_per_sequence_ignores_padding_segment(batch):
  logits, targets, weights = batch
  segment_ids = np.array([[1, 1, 1, 2, 2, 0, 0], [1, 1, 2, 2, 2, 2, 0], [1, 1, 0, 0, 0, 0, 0]])
  weights = np.ones_like(weights)  # weight on padding (segment 0) too: it is not a sequence
  loss, _ = cross_entropy_loss(logits, targets, weights, loss_normalizer="per_sequence",
                               segment_ids=segment_ids)
  want, _ = reference(logits, targets, weights * (segment_ids > 0), 1e-4, 0.0, "per_sequence",
                      segment_ids)
  np.testing.assert_allclose(float(loss), want, rtol=2e-6)


@pytest.mark.parametrize("z_loss, label_smoothing", [(1e-4, 0.0), (1e-2, 0.1)])
def test_gradient_matches_float64_finite_differences(batch, z_loss, label_smoothing):
  """The hand-written backward pass of the token cross-entropy against central differences of the
  float64 reference."""
  import jax  # pylint: disable=import-outside-toplevel
  logits, targets, weights = batch
  grad = np.asarray(jax.grad(lambda l: cross_entropy_loss(
      l, targets, weights, z_loss=z_loss, label_smoothing=label_smoothing, loss_normalizer="sum")[0])(logits))
  want = np.zeros(logits.shape)
  step = 1e-5
  base = logits.astype(np.float64)
  for index in np.ndindex(*logits.shape):
    up, down = base.copy(), base.copy()
    up[index] += step
    down[index] -= step
    want[index] = (reference(up, targets, weights, z_loss, label_smoothing, "sum")[0]
                   - reference(down, targets, weights, z_loss, label_smoothing, "sum")[0]) / (2 * step)
  np.testing.assert_allclose(grad, want, atol=2e-6, rtol=1e-4)
