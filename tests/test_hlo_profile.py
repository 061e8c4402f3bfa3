"""bench/hlo_profile.py: the ops and matmul FLOPs the profiling benchmarks read from compiled HLO."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import hlo_profile  # pylint: disable=wrong-import-position


def test_dot_flops_and_sources_come_from_the_compiled_program():
  def f(a, b, c):
    return jnp.tanh(jnp.einsum("bij,bjk->bik", a, b)) @ c

  shapes = [(3, 64, 32), (3, 32, 16), (16, 8)]
  args = [jnp.asarray(np.ones(s, np.float32)) for s in shapes]
  ops = hlo_profile.hlo_ops(jax.jit(f).lower(*args).compile().as_text())
  dots = sorted(flops for opcode, _, flops in ops.values() if opcode == "dot")
  assert dots == sorted([2 * 3 * 64 * 16 * 32, 2 * 3 * 64 * 8 * 16])
  assert all("dot_general" in source for opcode, source, _ in ops.values() if opcode == "dot")
  assert sum(flops for _, _, flops in ops.values()) == sum(dots)
