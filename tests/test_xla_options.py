"""flan's per-platform XLA compiler options: YNNPACK dot fusions off on the CPU (flan/xla_options.py)."""
import jax
import jax.numpy as jnp
import numpy as np

from flan import partitioning
from flan import xla_options


def test_cpu_programs_get_ynn_fusions_off_and_other_platforms_nothing(monkeypatch):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  assert xla_options.compiler_options("cpu") == {xla_options.YNN_FUSION_TYPE: ""}
  assert xla_options.compiler_options("gpu") is None
  assert xla_options.compiler_options("tpu") is None


def test_a_user_setting_in_xla_flags_is_kept(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", f"--xla_force_host_platform_device_count=8 --{xla_options.YNN_FUSION_TYPE}=dot")
  assert xla_options.compiler_options("cpu") is None


def test_the_platform_comes_from_the_mesh_devices():
  mesh = partitioning.make_mesh(data=2, fsdp=1, model=1, devices=jax.devices()[:2])
  assert xla_options.mesh_platform(mesh) == "cpu"
  assert xla_options.mesh_platform(None) == jax.default_backend()


def test_a_compiled_cpu_program_has_no_ynn_fusion_and_the_same_values():
  x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
  w = np.random.default_rng(1).standard_normal((64, 512)).astype(np.float32)
  fun = lambda a, b: jnp.argmax(a @ b, axis=-1)
  ours = xla_options.jit_for(fun, "cpu")
  assert "__ynn_fusion" not in ours.lower(x, w).compile().as_text()
  np.testing.assert_array_equal(ours(x, w), np.argmax(x.astype(np.float64) @ w, axis=-1))


def test_jit_by_platform_builds_one_program_per_platform():
  calls = []

  @xla_options.jit_by_platform(static_argnames=("scale",))
  def scaled(x, *, scale):
    calls.append(scale)  # traced once per (platform, static arguments, shapes)
    return x * scale

  assert scaled("cpu") is scaled("cpu")
  assert float(scaled("cpu")(jnp.float32(2), scale=3)) == 6.0
  assert float(scaled("cpu")(jnp.float32(4), scale=3)) == 12.0
  assert calls == [3]
