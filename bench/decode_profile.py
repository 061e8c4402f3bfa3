"""Where flan's cached greedy decoding spends its time: one decode of bench/decode_throughput.py's model and
batch under jax.profiler, its compiled ops summed per decode step and named by the model code they come from.

  .venv/bin/python bench/decode_profile.py --threads 1            # the decode benchmark's CPU defaults
  .venv/bin/python bench/decode_profile.py --threads 1 --top 40

Prints the wall time of the profiled decode, then the ops run once per step (the decode loop's body), most
time first: milliseconds per step, the HLO op and its source (e.g. decoder/logits_dense ... dot_general).
The profiler adds a little time to every op; compare the ops with each other, not with the benchmark's times.
"""
import argparse
import collections
import re
import sys
import tempfile
import time

import decode_throughput  # bench/decode_throughput.py, beside this file
import hlo_profile  # bench/hlo_profile.py, beside this file


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--threads", type=int, default=0, help="as bench/decode_throughput.py")
  p.add_argument("--top", type=int, default=25, help="ops to list")
  own, rest = p.parse_known_args(argv)
  return own, decode_throughput.parse_args(rest + ["--threads", str(own.threads)])


def per_step_ops(trace_dir, steps):
  """{op name: total microseconds} of the profiled ops that ran at least `steps` times."""
  return {name: micros for name, (micros, count) in hlo_profile.op_times(trace_dir).items() if count >= steps}


def main(argv=None):
  own, args = parse_args(sys.argv[1:] if argv is None else argv)
  decode_throughput.limit_xla_threads(args)
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from flan import xla_options  # pylint: disable=import-outside-toplevel
  from flan.models import decoding  # pylint: disable=import-outside-toplevel

  with tempfile.TemporaryDirectory() as tmp:
    decode_throughput.build_hf_model(args, tmp)
    config, params = decode_throughput.import_into_flan(tmp, args)
  inputs = decode_throughput.make_inputs(args)
  run = lambda: decoding.decode_tokens(config, params, inputs, max_decode_length=args.new_tokens, eos_id=-1)
  run()
  loop = decoding._sample_loop(xla_options.mesh_platform())  # pylint: disable=protected-access
  hlo = loop.lower(params, jnp.asarray(inputs), jax.random.PRNGKey(0), jnp.float32(1), jnp.float32(1),
                   jnp.int32(-1), config=config, max_decode_length=args.new_tokens, greedy=True, top_k=0,
                   use_top_p=False, vocab_limit=None).compile().as_text()
  sources = {name: source.split("/while/body/")[-1] for name, (_, source, _) in hlo_profile.hlo_ops(hlo).items()}
  with tempfile.TemporaryDirectory() as trace_dir:
    started = time.perf_counter()
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      run()
    seconds = time.perf_counter() - started
    ops = per_step_ops(trace_dir, args.new_tokens)
  steps = args.new_tokens
  in_ops = sum(ops.values()) / 1e3 / steps
  print(f"profiled decode: {seconds:.3f}s for {steps} steps of batch {args.batch}; ops run every step: "
        f"{in_ops:.2f} ms per step in {len(ops)} ops")
  kinds = collections.Counter()
  for name, micros in ops.items():
    kinds[re.sub(r"\.\d+$", "", name)] += micros
  print("by kind: " + ", ".join(f"{kind} {micros / 1e3 / steps:.2f} ms" for kind, micros in kinds.most_common(6)))
  for name, micros in sorted(ops.items(), key=lambda item: -item[1])[:own.top]:
    print(f"{micros / 1e3 / steps:7.3f} ms/step  {name:34s} {sources.get(name, '')[:90]}")


if __name__ == "__main__":
  main()
