"""Where flan's CPU train step spends its time: bench/train_throughput.py's flan step (same model, batch, lengths
and allocator) timed, then run under jax.profiler with its compiled ops summed per step.

  .venv/bin/python bench/train_profile.py                 # small, the train benchmark's CPU defaults
  .venv/bin/python bench/train_profile.py --sizes tiny --top 40 --trace_dir /tmp/train_trace

Prints the step's wall time; the step's matmul FLOPs and the time they take at the square-matmul rate measured
in the same run (XLA:CPU runs dots asynchronously on its thread pool, so the profiler cannot time them one by
one); the other ops' time by part of the step (forward, backward, optimizer update, compiler-made copies and
reduction stages) and by kind; then those ops most time first with the jax code they come from. Ops may overlap
the asynchronous matmuls, and the profiler adds a little time to each: compare the ops with each other.
"""
import argparse
import collections
import os
import re
import sys
import tempfile
import time

import hlo_profile  # bench/hlo_profile.py, beside this file
import roofline  # bench/roofline.py, beside this file
import train_throughput  # bench/train_throughput.py, beside this file


def phase(source):
  """The part of the step an op belongs to, from the jax code it came from."""
  if not source:
    return "compiler-made (layout copies, reduction stages)"
  if "transpose(jvp(" in source:
    return "backward pass"
  if "jvp(" in source:
    return "forward pass"
  return "optimizer update, loss metrics"


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--sizes", default="small", help="one flan.models.config size")
  p.add_argument("--top", type=int, default=25, help="ops to list")
  p.add_argument("--trace_dir", default=None, help="keep the profiler trace here (for Perfetto or TensorBoard)")
  p.add_argument("--steps", type=int, default=2, help="profiled steps (after 2 warm-up steps)")
  own, rest = p.parse_known_args(sys.argv[1:] if argv is None else argv)
  args = train_throughput.parse_args(rest + ["--sizes", own.sizes, "--steps", str(own.steps)])
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  from flan import host_memory  # pylint: disable=import-outside-toplevel
  env = host_memory.environment()  # run as flan-train and the train benchmark run flan: glibc huge pages
  if env is not None:
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)
  import jax  # pylint: disable=import-outside-toplevel

  config = train_throughput.model_config(args, own.sizes, dtype="float32", dropout_rate=0.0)
  batches = train_throughput.make_batches(config, args, own.steps + 2)
  compiled, state, device_batches, _ = train_throughput.compiled_flan_step(config, batches, args)
  ops = hlo_profile.hlo_ops(compiled.as_text())
  for batch in device_batches[:2]:
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  started = time.perf_counter()
  for batch in device_batches[2:]:
    state, metrics = compiled(state, batch)
  jax.block_until_ready((state, metrics))
  step_ms = (time.perf_counter() - started) / own.steps * 1e3
  rate = roofline.xla_matmul_rate()
  with tempfile.TemporaryDirectory() as scratch:
    trace_dir = own.trace_dir or scratch
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for batch in device_batches[2:]:
        state, metrics = compiled(state, batch)
      jax.block_until_ready((state, metrics))
    timed = hlo_profile.op_times(trace_dir)
  matmul_flops = sum(flops * timed.get(name, (0, 0))[1] for name, (_, _, flops) in ops.items()) / own.steps
  per_step = {name: micros / 1e3 / own.steps for name, (micros, _) in timed.items()
              if name in ops and ops[name][0] != "dot"}
  print(f"{own.sizes}, batch {args.batch}, lengths {args.input_length}/{args.target_length}: {step_ms:,.1f} ms per "
        f"step without the profiler")
  floor = matmul_flops / rate * 1e3
  print(f"  matmuls: {matmul_flops / 1e9:,.1f} GFLOP per step, {floor:,.1f} ms at the "
        f"square-matmul rate measured here ({rate / 1e9:,.0f} GFLOP/s); XLA:CPU runs them asynchronously on its "
        "thread pool, so the profiler does not time them")
  print(f"  other ops, as profiled: {sum(per_step.values()):,.1f} ms per step in {len(per_step)} ops")
  phases, kinds = collections.Counter(), collections.Counter()
  for name, ms in per_step.items():
    opcode, source, _ = ops[name]
    phases[phase(source)] += ms
    kinds[opcode if opcode != "fusion" else re.sub(r"(\.\d+)+$", "", name)] += ms
  for part, ms in phases.most_common():
    print(f"    {part:48s} {ms:9,.1f} ms")
  print("    by kind: " + ", ".join(f"{kind} {ms:,.1f} ms" for kind, ms in kinds.most_common(8)))
  print(f"  if every other op took no time and the matmuls ran at the square-matmul rate, a step would take "
        f"{floor:,.1f} ms: {step_ms / floor:.2f}x faster than this one")
  for name, ms in sorted(per_step.items(), key=lambda item: -item[1])[:own.top]:
    print(f"{ms:8.2f} ms/step  {name:30s} {ops[name][1][-90:]}")


if __name__ == "__main__":
  main()
