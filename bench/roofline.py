"""What this machine can do at best, measured in the benchmark's own process: the matmul rate of XLA and of
PyTorch, and the rate at which XLA streams memory. The benchmarks divide their work by these rates to get the
fastest time any implementation could reach here, and so the largest ratio over the peer that is possible."""
import statistics
import time

import numpy as np


def _median_seconds(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    started = time.perf_counter()
    fn()
    times.append(time.perf_counter() - started)
  return statistics.median(times)


def xla_matmul_rate(n=2048, dtype="float32", repeats=5):
  """FLOP/s of one jitted [n, n] x [n, n] matmul on jax's default device."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
  matmul = jax.jit(lambda x: x @ x)
  return 2 * n ** 3 / _median_seconds(lambda: matmul(a).block_until_ready(), repeats)


def torch_matmul_rate(n=2048, device="cpu", repeats=5):
  """FLOP/s of one [n, n] x [n, n] torch matmul (float32 on the CPU, bfloat16 on a GPU)."""
  import torch  # pylint: disable=import-outside-toplevel
  dtype = torch.float32 if device == "cpu" else torch.bfloat16
  a = torch.randn(n, n, device=device, dtype=dtype)
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

  def run():
    a @ a  # pylint: disable=pointless-statement
    sync()
  return 2 * n ** 3 / _median_seconds(run, repeats)


def xla_stream_bandwidth(megabytes=256, repeats=5):
  """Bytes/s at which one jitted float32 sum reads an array far larger than the caches."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  x = jnp.ones((megabytes * 2 ** 20 // 4,), jnp.float32)
  total = jax.jit(jnp.sum)
  return x.nbytes / _median_seconds(lambda: total(x).block_until_ready(), repeats)
