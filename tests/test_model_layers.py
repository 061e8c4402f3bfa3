"""flan.models.layers: the output layer's hand-written gradients equal autodiff's."""
import jax
import jax.numpy as jnp
import numpy as np

from flan.models.layers import matmul_with_explicit_gradients


def test_explicit_gradients_equal_autodiff():
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.randn(2, 3, 5), jnp.float32)
  kernel = jnp.asarray(rng.randn(5, 7), jnp.float32)
  weights = jnp.asarray(rng.randn(2, 3, 7), jnp.float32)
  loss = lambda f: (lambda x, k: jnp.sum(jnp.sin(f(x, k)) * weights))
  plain = lambda x, k: jnp.einsum("bti,io->bto", x, k)
  np.testing.assert_allclose(matmul_with_explicit_gradients(x, kernel), plain(x, kernel), rtol=1e-6)
  got = jax.grad(loss(matmul_with_explicit_gradients), argnums=(0, 1))(x, kernel)
  want = jax.grad(loss(plain), argnums=(0, 1))(x, kernel)
  for a, b in zip(got, want):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # float64 reference of the kernel gradient: sum over tokens of x_i * dL/dy_o.
  y = np.einsum("bti,io->bto", np.float64(x), np.float64(kernel))
  dy = np.cos(y) * np.float64(weights)
  np.testing.assert_allclose(got[1], np.einsum("bti,bto->io", np.float64(x), dy), rtol=1e-5, atol=1e-6)
