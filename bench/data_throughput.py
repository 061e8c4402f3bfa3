"""End-to-end input pipeline speed: examples/s through templating, tokenizing, packing, batching.

Ours (flan.data.batches with the best-fit packer) against the usual t5x pipeline (seqio.get_dataset
with EncDecFeatureConverter(pack=True)) on the same mixture, in the same run. Both pipelines are
built first (not timed), then timed in alternating rounds, so that load from other processes on a
shared machine hits both alike; the median round is reported, with the process CPU time per
example (all threads), which is less sensitive to such load.

  python bench/data_throughput.py                        # flan2022_cot_7 at 2048:512
  python bench/data_throughput.py --name flan_demo --lengths 256:64 --examples 4000
"""
import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

from flan.data import batches
from flan.data import cli
from flan.data import examples as examples_lib
from flan.data import stats

DEFAULT_COT_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "flan_cot"
DEFAULT_SPIECE = DEFAULT_COT_DIR.parent / "t5_spiece" / "spiece.model"
COT_MIXTURE = "flan2022_cot_7"


def machine() -> str:
  return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}")


def timed(draw, *args):
  wall, cpu = time.perf_counter(), time.process_time()
  count = draw(*args)
  return count, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--name", default=COT_MIXTURE)
  parser.add_argument("--lengths", type=cli.parse_lengths, default=cli.parse_lengths("2048:512"))
  parser.add_argument("--examples", type=int, default=8192, help="examples per timed round")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--skip-seqio", action="store_true", help="only time our pipeline")
  parser.add_argument("--module", action="append", default=[])
  args = parser.parse_args(argv)
  os.environ.setdefault("FLAN_COT_DIR", str(DEFAULT_COT_DIR))
  os.environ.setdefault("FLAN_VOCAB_PATH", str(DEFAULT_SPIECE))  # T5's, not the demo vocabulary
  examples_lib.import_registrations(args.module)
  common = dict(split="train", feature_lengths=args.lengths, batch_size=args.batch_size)
  ours = batches.make_batch_iterator(args.name, shard_index=0, num_shards=1, **common)
  next(ours)
  theirs = None
  if not args.skip_seqio:
    theirs = stats.seqio_packed_batches(args.name, **common)
    next(theirs)
  results = {"flan": [], "seqio": []}
  for _ in range(args.rounds):
    results["flan"].append(timed(stats.draw_flan_examples, ours, args.examples))
    if theirs is not None:
      results["seqio"].append(timed(stats.draw_seqio_examples, theirs, args.examples))
  ours.close()
  print(f"data throughput: {args.name!r}, lengths {args.lengths['inputs']}:"
        f"{args.lengths['targets']}, batch {args.batch_size}, {args.rounds} alternating rounds "
        f"of {args.examples} examples, pipelines built before timing")
  print(f"machine: {machine()}")
  medians = {}
  labels = {"flan": "flan (best-fit packer, numpy)",
            "seqio": "seqio get_dataset + EncDecFeatureConverter(pack=True)"}
  for key, rounds in results.items():
    if not rounds:
      continue
    rates = [n / wall for n, wall, _ in rounds]
    cpu_ms = [1000 * cpu / n for n, _, cpu in rounds]
    medians[key] = statistics.median(rates)
    print(f"{labels[key]}: median {medians[key]:.0f} examples/s (rounds: "
          f"{', '.join(f'{r:.0f}' for r in rates)}); CPU {statistics.median(cpu_ms):.3f} ms/example")
  if len(medians) == 2:
    print(f"ratio flan/seqio: {medians['flan'] / medians['seqio']:.2f}x")
  return 0


if __name__ == "__main__":
  sys.exit(main())
