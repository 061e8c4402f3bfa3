"""Adafactor (T5X settings) against an independent float64 numpy implementation; schedules."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.trainer import optimizer, schedules


def _rms(x):
  return np.sqrt(np.mean(np.square(x)))


class NumpyT5XAdafactor:
  """Shazeer & Stern (2018) Adafactor with T5X's defaults, written from the paper in float64."""

  def __init__(self, lr, min_dim=128, decay_exponent=0.8, clip=1.0, eps1=1e-30, eps2=1e-3):
    self.lr, self.min_dim, self.decay_exponent = lr, min_dim, decay_exponent
    self.clip, self.eps1, self.eps2 = clip, eps1, eps2
    self.step = 0
    self.stats = {}

  def _factored(self, shape):
    return len(shape) == 2 and min(shape) >= self.min_dim

  def update(self, params, grads):
    beta2 = 1.0 - (self.step + 1.0) ** -self.decay_exponent
    new = {}
    for name, p in params.items():
      g = grads[name].astype(np.float64)
      g2 = g * g + self.eps1
      if self._factored(p.shape):
        # rows and columns of a 2-D matrix: the larger dimension is averaged out of the row statistics
        big, small = (0, 1) if p.shape[0] >= p.shape[1] else (1, 0)
        r, c = self.stats.get(name, (0.0, 0.0))
        r = beta2 * r + (1 - beta2) * g2.mean(axis=big)   # indexed by the smaller dim
        c = beta2 * c + (1 - beta2) * g2.mean(axis=small)  # indexed by the larger dim
        self.stats[name] = (r, c)
        approx_v = np.expand_dims(r, big) * np.expand_dims(c, small) / r.mean()
        u = g / np.sqrt(approx_v)
      else:
        v = self.stats.get(name, 0.0)
        v = beta2 * v + (1 - beta2) * g2
        self.stats[name] = v
        u = g / np.sqrt(v)
      u = u / max(1.0, _rms(u) / self.clip)
      scale = max(_rms(p.astype(np.float64)), self.eps2)
      new[name] = p.astype(np.float64) - self.lr * scale * u
    self.step += 1
    return new


def test_adafactor_matches_numpy_reference_factored_and_unfactored():
  rng = np.random.default_rng(0)
  params = {
      "factored_tall": rng.normal(size=(256, 128)).astype(np.float32),
      "factored_wide": rng.normal(size=(128, 384)).astype(np.float32) * 0.01,
      "unfactored_small_dim": rng.normal(size=(300, 64)).astype(np.float32),
      "vector": rng.normal(size=(96,)).astype(np.float32) * 1e-5,  # rms below epsilon2
  }
  tx = optimizer.make_optimizer(schedules.make_schedule("constant", base_learning_rate=0.01))
  state = tx.init(params)
  ref = NumpyT5XAdafactor(lr=0.01)
  ours = {k: jnp.asarray(v) for k, v in params.items()}
  ref_params = {k: v.astype(np.float64) for k, v in params.items()}
  update = jax.jit(tx.update)
  for step in range(3):
    grads = {k: rng.normal(size=v.shape).astype(np.float32) * (step + 1) for k, v in params.items()}
    grads["factored_wide"][:, :5] *= 50.0  # uneven columns so factoring matters
    updates, state = update(grads, state, ours)
    ours = jax.tree.map(lambda p, u: p + u, ours, updates)
    ref_params = ref.update(ref_params, grads)
    for name in params:
      np.testing.assert_allclose(np.asarray(ours[name]), ref_params[name], rtol=2e-5, atol=1e-6,
                                 err_msg=f"{name} at step {step}")
  # factored parameters keep only row/column statistics
  factored_state = state[0]
  assert factored_state.v_row["factored_tall"].shape == (128,)
  assert factored_state.v_col["factored_tall"].shape == (256,)
  assert factored_state.v["unfactored_small_dim"].shape == (300, 64)


def test_adafactor_first_update_is_clipped_sign_like():
  # step 0: beta2 = 0, so u = g / |g| (elementwise sign) for unfactored params, rms 1 -> no clipping;
  # update = -lr * max(rms(p), 1e-3) * sign(g).
  p = {"w": jnp.full((4,), 2.0)}
  g = {"w": jnp.array([0.5, -3.0, 1e-3, -1e-4])}
  tx = optimizer.make_optimizer(0.1)
  updates, _ = tx.update(g, tx.init(p), p)
  np.testing.assert_allclose(updates["w"], -0.1 * 2.0 * np.sign(g["w"]), rtol=1e-5)


def test_schedules():
  constant = schedules.make_schedule("constant", base_learning_rate=5e-4)
  assert float(constant(12345)) == pytest.approx(5e-4)
  rsqrt = schedules.make_schedule("rsqrt", base_learning_rate=1.0, warmup_steps=10_000)
  assert float(rsqrt(0)) == pytest.approx(0.01)
  assert float(rsqrt(40_000)) == pytest.approx(0.005)
  # finetuning from step 1,000,000 of pretraining continues the schedule there
  offset = schedules.make_schedule("rsqrt", base_learning_rate=1.0, warmup_steps=10_000, step_offset=1_000_000)
  assert float(offset(0)) == pytest.approx(1e-3)
  warm = schedules.make_schedule("linear_warmup", base_learning_rate=1e-3, warmup_steps=10)
  assert float(warm(0)) == pytest.approx(1e-4)
  assert float(warm(4)) == pytest.approx(5e-4)
  assert float(warm(100)) == pytest.approx(1e-3)
  with pytest.raises(ValueError, match="'cosine'"):
    schedules.make_schedule("cosine")
