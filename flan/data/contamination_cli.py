"""`flan-data contamination`: n-gram overlap between a training mixture and the held-out benchmarks.

  flan-data contamination MIXTURE --benchmarks mmlu,bbh,tydiqa,mgsm --data_dir D [--n 13] [--max_examples N]
  flan-data contamination MIXTURE --index_out idx.npz --benchmarks ... --data_dir D     (build and keep the index)
  flan-data contamination MIXTURE --index idx.npz --shard 0/4 --results_out part0.json  (one of 4 processes)
  flan-data contamination MIXTURE --merge part0.json,part1.json,part2.json,part3.json   (the report of all 4)
Stand-alone (`python -m flan.data.contamination_cli`) it also reads --gin_file / --gin.KEY=VALUE (e.g. the
data folders of the mixtures' sources) and --module.

The table goes to stdout (--json: the report as JSON); an example of each hit, the overlap marked [[...]],
goes to --hits_out.
"""
import argparse
import sys
from typing import Optional, Sequence

from flan.errors import ConfigError

DEFAULT_HITS_FILE = "contamination_hits.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("name", help="registered training mixture or task")
  parser.add_argument("--benchmarks", default=None,
                      help="comma-separated: mmlu, bbh, tydiqa, mgsm (or all); builds the index")
  parser.add_argument("--data_dir", default=None, help="folder holding mmlu/, bbh/, tydiqa/, mgsm/")
  for family in ("mmlu", "bbh", "tydiqa", "mgsm"):
    parser.add_argument(f"--{family}_dir", default=None, help=f"{family} folder (instead of <data_dir>/{family})")
  parser.add_argument("--n", type=int, default=None, help="n-gram length in words (default 13, as GPT-3)")
  parser.add_argument("--max_examples", type=int, default=None,
                      help="scan only the first N examples of every task (a quick look)")
  parser.add_argument("--split", default="train")
  parser.add_argument("--shard", default=None, help="i/k: scan every k-th task from the i-th (0 <= i < k)")
  parser.add_argument("--results_out", default=None, help="write the raw scan result (JSON) for --merge")
  parser.add_argument("--merge", default=None, help="comma-separated shard results: report them together")
  parser.add_argument("--index", default=None, help="load this index instead of building one")
  parser.add_argument("--index_out", default=None, help="save the built index here")
  parser.add_argument("--hits_out", default=DEFAULT_HITS_FILE,
                      help=f"an example of each hit, JSONL (default {DEFAULT_HITS_FILE})")
  parser.add_argument("--json", action="store_true", help="print the report as JSON")
  parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_contamination_command(subparsers) -> argparse.ArgumentParser:
  """Adds the `contamination` subcommand to flan-data's subparsers; its handler is `run(args)`."""
  parser = subparsers.add_parser("contamination", help="n-gram overlap with the evaluation benchmarks",
                                 description=__doc__.split("\n")[0])
  add_arguments(parser)
  parser.set_defaults(handler=run)
  return parser


def _dirs(args):
  from flan.evaluation import benchmarks  # pylint: disable=import-outside-toplevel
  return benchmarks.DataDirs(data_dir=args.data_dir, mmlu_dir=args.mmlu_dir, bbh_dir=args.bbh_dir,
                             tydiqa_dir=args.tydiqa_dir, mgsm_dir=args.mgsm_dir)


def _check_arguments(args) -> None:
  if args.merge:
    building = [flag for flag, value in (("--benchmarks", args.benchmarks), ("--index", args.index),
                                         ("--index_out", args.index_out), ("--shard", args.shard),
                                         ("--max_examples", args.max_examples)) if value is not None]
    if building:
      raise ConfigError(f"--merge reports finished shard results; {building[0]} does not apply")
  if args.shard and not args.merge:
    from flan.data import contamination_scan as scan_lib  # pylint: disable=import-outside-toplevel
    _, count = scan_lib.parse_shard(args.shard)
    if count > 1 and not args.results_out:
      raise ConfigError(f"--shard {args.shard} needs --results_out (the shard result that --merge reads)")


def run(args) -> int:
  """The command's work; prints the report. Errors a user can fix raise flan.errors.UserError."""
  from flan.data import contamination_index as index_lib  # pylint: disable=import-outside-toplevel
  from flan.data import contamination_report as report_lib  # pylint: disable=import-outside-toplevel
  from flan.data import contamination_scan as scan_lib  # pylint: disable=import-outside-toplevel
  _check_arguments(args)
  if args.merge:
    paths = [p for p in args.merge.split(",") if p]
    result = scan_lib.merge([scan_lib.load_result(p) for p in paths], paths)
    if result["mixture"] != args.name:
      raise ConfigError(f"the shard results are of {result['mixture']!r}, not {args.name!r}")
  else:
    index = index_lib.build_or_load(index_path=args.index, benchmarks=args.benchmarks, dirs=_dirs(args), n=args.n)
    if args.index_out:
      index.save(args.index_out)
      print(f"index of {len(index.items)} items ({index.n}-grams) written to {args.index_out}", file=sys.stderr)
    shard = scan_lib.parse_shard(args.shard) if args.shard else (0, 1)
    result = scan_lib.scan(args.name, index, split=args.split, max_examples=args.max_examples, shard=shard,
                           progress=not args.quiet)
    if args.results_out:
      scan_lib.save_result(result, args.results_out)
    if shard[1] > 1:
      print(f"shard {shard[0]}/{shard[1]}: {len(result['tasks'])} tasks scanned, result written to "
            f"{args.results_out}; report all shards with --merge")
      return 0
  count = report_lib.write_hits(result, args.hits_out)
  report = report_lib.build_report(result, hits_file=args.hits_out if count else None)
  print(report_lib.format_json(report) if args.json else "\n".join(report_lib.format_table(report)))
  return 0


def build_parser() -> argparse.ArgumentParser:
  """The command's own parser (flan-data's global --module included) for the stand-alone entry point."""
  parser = argparse.ArgumentParser(prog="flan-data contamination", description=__doc__.split("\n")[0])
  parser.add_argument("--module", action="append", default=[],
                      help="also import this Python module (registers your tasks); repeatable")
  add_arguments(parser)
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Stand-alone entry point (`python -m flan.data.contamination_cli MIXTURE ...`)."""
  from flan import errors  # pylint: disable=import-outside-toplevel

  def work(arguments):
    from flan import gin_args  # pylint: disable=import-outside-toplevel
    gin_files, bindings, search_paths, rest = gin_args.split_gin_args(arguments)
    args = build_parser().parse_args(rest)
    if gin_files or bindings:
      gin_args.parse_gin(gin_files, bindings, search_paths or None)
    from flan.data import examples  # pylint: disable=import-outside-toplevel
    try:
      examples.import_registrations(args.module)
    except ImportError as error:
      raise ConfigError(f"cannot import module: {error}") from error
    return run(args)

  return errors.run_command("flan-data contamination", work, argv)


if __name__ == "__main__":
  sys.exit(main())
