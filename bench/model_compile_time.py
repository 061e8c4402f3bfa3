"""Compile time of one training step (forward + backward of the T5 loss), layers unrolled
against layers scanned (`scan_layers=True`), for one model size, measured in the same run.

Nothing is executed: parameters and the batch are abstract (jax.eval_shape), so even xxl
compiles on a laptop CPU. Prints both times, the ratio scanned / unrolled and the machine.

  .venv/bin/python bench/model_compile_time.py --size base --inputs 512 --targets 128
  .venv/bin/python bench/model_compile_time.py --size xl --remat
"""
import argparse
import os
import platform
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from flan.models import Transformer, cross_entropy_loss, get_config


def compile_seconds(config, batch, inputs, targets):
  model = Transformer(config)
  enc = jax.ShapeDtypeStruct((batch, inputs), jnp.int32)
  dec = jax.ShapeDtypeStruct((batch, targets), jnp.int32)
  params = jax.eval_shape(lambda e, d: nn.unbox(model.init(jax.random.PRNGKey(0), e, d)["params"]),
                          enc, dec)

  def loss_fn(params, enc, dec):
    logits = model.apply({"params": params}, enc, dec)
    return cross_entropy_loss(logits, dec, (dec > 0).astype(jnp.float32))[0]

  start = time.perf_counter()
  jax.jit(jax.grad(loss_fn)).lower(params, enc, dec).compile()
  return time.perf_counter() - start


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--size", default="base")
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--inputs", type=int, default=512)
  parser.add_argument("--targets", type=int, default=128)
  parser.add_argument("--remat", action="store_true")
  args = parser.parse_args(argv)
  times = {}
  for scan in (False, True):
    config = get_config(args.size, scan_layers=scan, remat=args.remat)
    times[scan] = compile_seconds(config, args.batch, args.inputs, args.targets)
  print(f"T5 v1.1 {args.size}, batch {args.batch}, lengths {args.inputs}/{args.targets}, "
        f"remat={args.remat}: training-step compile time")
  print(f"  layers unrolled: {times[False]:.1f} s")
  print(f"  layers scanned:  {times[True]:.1f} s")
  print(f"  ratio scanned / unrolled: {times[True] / times[False]:.2f}")
  print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}, jax {jax.__version__} on "
        f"{jax.devices()[0].platform}")


if __name__ == "__main__":
  main()
