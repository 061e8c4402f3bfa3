"""Huge pages for host buffers: the environment the commands restart with, and the page faults it saves."""
import os
import subprocess
import sys

import pytest

from flan import host_memory

THP = host_memory.kernel_mode()
needs_huge_pages = pytest.mark.skipif(
    THP in (None, "never") or sys.platform != "linux",
    reason=f"the kernel offers no transparent huge pages here ({host_memory.KERNEL_SETTING}: {THP})")


def _clean_env(**extra):
  env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", host_memory.OPT_OUT)}
  env.update(extra)
  return env


@needs_huge_pages
def test_environment_adds_the_tunable_once_and_respects_the_opt_out():
  assert host_memory.environment(_clean_env())["GLIBC_TUNABLES"] == host_memory.TUNABLE
  kept = host_memory.environment(_clean_env(GLIBC_TUNABLES="glibc.malloc.arena_max=2"))
  assert kept["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + host_memory.TUNABLE
  assert host_memory.environment(_clean_env(GLIBC_TUNABLES=host_memory.TUNABLE)) is None
  assert host_memory.environment(_clean_env(GLIBC_TUNABLES="glibc.malloc.hugetlb=0")) is None  # the user's choice
  assert host_memory.environment(_clean_env(FLAN_HUGE_PAGES="0")) is None


@needs_huge_pages
def test_a_command_restarts_itself_with_the_tunable():
  code = "from flan import host_memory; host_memory.restart_with_huge_pages('flan.host_memory', [])"
  done = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True,
                        timeout=120, check=True)
  assert "huge pages for malloc: on" in done.stdout
  done = subprocess.run([sys.executable, "-c", code], env=_clean_env(FLAN_HUGE_PAGES="0"), capture_output=True,
                        text=True, timeout=120, check=True)
  assert done.stdout == ""  # no restart: the -c program just ended


FAULTS_PER_CALL = """
import resource
import jax, jax.numpy as jnp
x = jnp.ones((512, 64), jnp.float32)
w = jnp.ones((64, 32768), jnp.float32)
step = jax.jit(lambda x, w: jnp.sum(jax.nn.log_softmax(x @ w) * 2.0))  # a 64 MiB temporary
step(x, w).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
  step(x, w).block_until_ready()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@needs_huge_pages
def test_huge_pages_cut_the_page_faults_of_large_temporaries():
  def faults(env):
    done = subprocess.run([sys.executable, "-c", FAULTS_PER_CALL], env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    return float(done.stdout.split()[-1])
  env = _clean_env(JAX_PLATFORMS="cpu")
  plain, huge = faults(env), faults(host_memory.environment(env))
  assert plain > 8000  # 64 MiB on fresh 4 KiB pages each call
  assert huge < plain / 2  # 2 MiB pages for the big mappings (the tiny train step: 53,262 -> 618 per step)
