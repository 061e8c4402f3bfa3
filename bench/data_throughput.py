"""End-to-end input pipeline speed: examples/s through templating, tokenizing, packing, batching.

Ours (flan.data.batches with the best-fit packer) against the usual t5x pipeline (seqio.get_dataset
with EncDecFeatureConverter(pack=True)) on the same mixture, measured in the same run.

  python bench/data_throughput.py                        # flan2022_cot_7 at 2048:512
  python bench/data_throughput.py --name flan_demo --lengths 256:64 --examples 8000
"""
import argparse
import os
import pathlib
import platform
import sys

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


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--name", default=COT_MIXTURE)
  parser.add_argument("--lengths", type=cli.parse_lengths, default=cli.parse_lengths("2048:512"))
  parser.add_argument("--examples", type=int, default=20000, help="examples to time per pipeline")
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--skip-seqio", action="store_true", help="only time our pipeline")
  parser.add_argument("--module", action="append", default=[])
  args = parser.parse_args(argv)
  os.environ.setdefault("FLAN_COT_DIR", str(DEFAULT_COT_DIR))
  os.environ.setdefault("FLAN_VOCAB_PATH", str(DEFAULT_SPIECE))  # T5's, not the demo vocabulary
  examples_lib.import_registrations(args.module)
  common = dict(split="train", feature_lengths=args.lengths, count=args.examples,
                batch_size=args.batch_size)
  ours_n, ours_s = stats.end_to_end_rate(args.name, **common)
  print(f"data throughput: {args.name!r}, lengths {args.lengths['inputs']}:"
        f"{args.lengths['targets']}, batch {args.batch_size}, timed after the first batch")
  print(f"machine: {machine()}")
  print(f"flan (best-fit packer, numpy): {ours_n} examples in {ours_s:.2f} s = "
        f"{ours_n / ours_s:.0f} examples/s")
  if not args.skip_seqio:
    seqio_n, seqio_s = stats.seqio_pipeline_rate(args.name, **common)
    print(f"seqio get_dataset + EncDecFeatureConverter(pack=True): {seqio_n} examples in "
          f"{seqio_s:.2f} s = {seqio_n / seqio_s:.0f} examples/s")
    print(f"ratio flan/seqio: {(ours_n / ours_s) / (seqio_n / seqio_s):.2f}x")
  return 0


if __name__ == "__main__":
  sys.exit(main())
