"""XLA compiler options flan sets on the programs it compiles, chosen by the platform they are built for.

On the CPU backend, jax 0.10's XLA hands dots to YNNPACK fusions by default. For flan's programs that is
slower than XLA's own Eigen dots (bench/decode_throughput.py --threads 1 and bench/train_throughput.py,
measured with XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= against the default): the decode step's
[8, 256] x [256, 32128] output layer ran several times slower and a whole greedy decode ~20% slower, the
small train step ~15% slower. So flan's train, eval and decode programs are compiled with YNNPACK fusions
off on the CPU; other platforms get no options. A user who names the option in XLA_FLAGS keeps their value.
"""
import functools
import os
from typing import Optional

import jax

YNN_FUSION_TYPE = "xla_cpu_experimental_ynn_fusion_type"
CPU_OPTIONS = {YNN_FUSION_TYPE: ""}  # "" = no fusion kind goes to YNNPACK


def target_platform() -> str:
  """The platform the computation being traced is built for: that of the mesh set with jax.set_mesh (an AOT
  compile for TPU from a CPU host builds for "tpu"), else jax's default backend."""
  device = getattr(jax.sharding.get_abstract_mesh(), "abstract_device", None)
  return getattr(device, "platform", None) or jax.default_backend()


def mesh_platform(mesh=None) -> str:
  """The platform of the mesh's devices (an AOT mesh of TPU devices on a CPU host is "tpu"); without a
  mesh, target_platform()."""
  devices = getattr(mesh, "devices", None)
  if devices is not None and getattr(devices, "size", 0):
    return devices.flat[0].platform
  return getattr(getattr(mesh, "abstract_device", None), "platform", None) or target_platform()


def compiler_options(platform: str) -> Optional[dict]:
  """The options for a program compiled for `platform` (None: XLA's defaults)."""
  if platform != "cpu":
    return None
  options = {name: value for name, value in CPU_OPTIONS.items() if name not in os.environ.get("XLA_FLAGS", "")}
  return options or None


def jit_for(fun, platform: str, **jit_kwargs):
  """jax.jit(fun, **jit_kwargs) with flan's compiler options for `platform`."""
  return jax.jit(fun, compiler_options=compiler_options(platform), **jit_kwargs)


def jit_by_platform(static_argnames=()):
  """Decorator: `fun` becomes platform -> jax.jit(fun) with that platform's options, one per platform, so
  `fun(platform)(*args)` reuses jax's compilation cache across calls."""
  def decorate(fun):
    @functools.cache
    def for_platform(platform: str):
      return jit_for(fun, platform, static_argnames=static_argnames)
    return functools.wraps(fun)(for_platform)
  return decorate
