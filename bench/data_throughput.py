"""End-to-end input pipeline speed: examples/s through templating, tokenizing, packing, batching.

Ours (flan.data.batches with the best-fit packer) against the usual t5x pipeline (seqio.get_dataset
with EncDecFeatureConverter(pack=True)) on the same mixture, in the same run. Each measurement runs
in its own process (two live pipelines would share threads and CPU), the pipeline is built and its
first batch drawn before timing, and the two pipelines alternate (flan, seqio, flan, seqio, ...) so
that load from other processes on a shared machine hits both alike. Reported: the median rate and
the process CPU time per example (all threads), which load from other processes affects less.

  python bench/data_throughput.py                        # flan2022_cot_7 at 2048:512
  python bench/data_throughput.py --name flan_demo --lengths 256:64 --examples 4000
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

DEFAULT_COT_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "flan_cot"
DEFAULT_SPIECE = DEFAULT_COT_DIR.parent / "t5_spiece" / "spiece.model"
COT_MIXTURE = "flan2022_cot_7"
LABELS = {"flan": "flan (best-fit packer, numpy)",
          "seqio": "seqio get_dataset + EncDecFeatureConverter(pack=True)"}


def machine() -> str:
  return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}")


def measure(pipeline: str, args) -> dict:
  """Builds one pipeline, draws a first batch, then times `args.examples` examples."""
  from flan.data import batches  # pylint: disable=import-outside-toplevel
  from flan.data import examples as examples_lib  # pylint: disable=import-outside-toplevel
  from flan.data import stats  # pylint: disable=import-outside-toplevel
  examples_lib.import_registrations(args.module)
  common = dict(split="train", feature_lengths=args.lengths, batch_size=args.batch_size)
  if pipeline == "flan":
    source = batches.make_batch_iterator(args.name, shard_index=0, num_shards=1, **common)
    draw = stats.draw_flan_examples
  else:
    source = stats.seqio_packed_batches(args.name, **common)
    draw = stats.draw_seqio_examples
  next(source)
  wall, cpu = time.perf_counter(), time.process_time()
  count = draw(source, args.examples)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  if pipeline == "flan":
    source.close()
  return {"examples": count, "seconds": wall, "cpu_seconds": cpu}


def main(argv=None):
  from flan.data import cli  # pylint: disable=import-outside-toplevel
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--name", default=COT_MIXTURE)
  parser.add_argument("--lengths", type=cli.parse_lengths, default=cli.parse_lengths("2048:512"))
  parser.add_argument("--examples", type=int, default=16384, help="examples per timed run")
  parser.add_argument("--repeats", type=int, default=2, help="runs of each pipeline")
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--skip-seqio", action="store_true", help="only time our pipeline")
  parser.add_argument("--module", action="append", default=[])
  parser.add_argument("--worker", choices=sorted(LABELS), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  os.environ.setdefault("FLAN_COT_DIR", str(DEFAULT_COT_DIR))
  os.environ.setdefault("FLAN_VOCAB_PATH", str(DEFAULT_SPIECE))  # T5's, not the demo vocabulary
  if args.worker:
    print("RESULT " + json.dumps(measure(args.worker, args)))
    return 0
  pipelines = ["flan"] if args.skip_seqio else ["flan", "seqio"]
  passthrough = list(argv if argv is not None else sys.argv[1:])
  results = {p: [] for p in pipelines}
  for _ in range(args.repeats):
    for pipeline in pipelines:
      out = subprocess.run([sys.executable, __file__, *passthrough, "--worker", pipeline],
                           capture_output=True, text=True, check=False)
      lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
      if out.returncode != 0 or not lines:
        raise SystemExit(f"{pipeline} measurement failed (exit {out.returncode}):\n"
                         f"{out.stderr[-3000:]}")
      results[pipeline].append(json.loads(lines[-1][len("RESULT "):]))
  print(f"data throughput: {args.name!r}, lengths {args.lengths['inputs']}:"
        f"{args.lengths['targets']}, batch {args.batch_size}, {args.examples} examples per run, "
        f"{args.repeats} alternating runs each, each in its own process after its first batch")
  print(f"machine: {machine()}")
  medians = {}
  for pipeline, runs in results.items():
    rates = [r["examples"] / r["seconds"] for r in runs]
    cpu_ms = statistics.median(1000 * r["cpu_seconds"] / r["examples"] for r in runs)
    medians[pipeline] = statistics.median(rates)
    print(f"{LABELS[pipeline]}: median {medians[pipeline]:.0f} examples/s (runs: "
          f"{', '.join(f'{r:.0f}' for r in rates)}); CPU {cpu_ms:.3f} ms/example")
  if len(medians) == 2:
    print(f"ratio flan/seqio: {medians['flan'] / medians['seqio']:.2f}x")
  return 0


if __name__ == "__main__":
  sys.exit(main())
