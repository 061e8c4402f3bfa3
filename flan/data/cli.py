"""flan-data: list registered tasks and mixtures, show rendered examples, measure lengths and packing,
audit what a mixture trains on.

  flan-data list [--filter X]
  flan-data show NAME [-n 5] [--split train]
  flan-data stats NAME [--lengths 2048:512] [--examples 20000]
  flan-data audit NAME [--steps 84000 --batch 64] [--examples-per-row 1 | --measure 2000] [--json | --markdown]
Registrations come from every module of flan.mixtures, plus --module for your own.
"""
import argparse
import fnmatch
import json
import sys
from typing import List, Optional, Sequence

from flan import errors

_STATS_ROWS = ("mean", "p50", "p90", "p95", "p99", "p100", "over_length")


def parse_lengths(text: str) -> dict:
  try:
    inputs, targets = (int(part) for part in text.split(":"))
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"--lengths must be INPUTS:TARGETS token counts such as 2048:512, got {text!r}") from None
  if inputs <= 0 or targets <= 0:
    raise argparse.ArgumentTypeError(f"--lengths must be positive, got {text!r}")
  return {"inputs": inputs, "targets": targets}


def positive_int(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
  if value <= 0:
    raise argparse.ArgumentTypeError(f"must be positive, got {value}")
  return value


def positive_float(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
  if not value > 0:
    raise argparse.ArgumentTypeError(f"must be positive, got {text}")
  return value


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="flan-data", description=__doc__.split("\n")[0])
  parser.add_argument("--module", action="append", default=[],
                      help="also import this Python module (registers your tasks); repeatable")
  commands = parser.add_subparsers(dest="command", required=True)

  listing = commands.add_parser("list", help="registered tasks and mixtures")
  listing.add_argument("--filter", default="",
                       help="substring, or a glob such as 'cot_*', of the names to list")

  show = commands.add_parser("show", help="rendered examples: the text the model sees")
  show.add_argument("name")
  show.add_argument("-n", type=positive_int, default=5, help="how many examples")
  show.add_argument("--split", default="train")
  show.add_argument("--seed", type=int, default=0)

  stats = commands.add_parser("stats", help="token lengths, truncation, packing fill, speed")
  stats.add_argument("name")
  stats.add_argument("--lengths", type=parse_lengths, default=parse_lengths("2048:512"),
                     help="INPUTS:TARGETS row lengths (default 2048:512)")
  stats.add_argument("--examples", "-n", type=positive_int, default=20000,
                     help="examples to measure (default 20000)")
  stats.add_argument("--split", default="train")
  stats.add_argument("--seed", type=int, default=0)
  stats.add_argument("--chunk-size", type=positive_int, default=2048, help="our packer's chunk size")

  audit = commands.add_parser("audit", help="composition: examples, caps, shares, epochs per dataset")
  audit.add_argument("name")
  audit.add_argument("--steps", type=positive_int, help="training steps (for expected epochs)")
  audit.add_argument("--batch", type=positive_int, help="packed rows per step (for expected epochs)")
  audit.add_argument("--examples-per-row", type=positive_float, default=1.0,
                     help="examples per packed row (flan-data stats measures it; default 1, a lower bound)")
  audit.add_argument("--measure", type=positive_int, metavar="N",
                     help="measure examples per packed row on N examples of the data (needs it downloaded)")
  audit.add_argument("--lengths", type=parse_lengths, default=parse_lengths("2048:512"),
                     help="INPUTS:TARGETS packed row lengths for --measure (default 2048:512)")
  audit.add_argument("--json", action="store_true", help="print the report as JSON")
  audit.add_argument("--markdown", action="store_true", help="print a markdown summary (as in the README)")
  from flan.data import contamination_cli  # pylint: disable=import-outside-toplevel
  contamination_cli.add_contamination_command(commands)
  return parser


def _matches(name: str, pattern: str) -> bool:
  if not pattern:
    return True
  if any(c in pattern for c in "*?["):
    return fnmatch.fnmatchcase(name, pattern)
  return pattern.lower() in name.lower()


def list_names(pattern: str) -> List[str]:
  import seqio  # pylint: disable=import-outside-toplevel
  lines = []
  for name in sorted(seqio.MixtureRegistry.names()):
    if _matches(name, pattern):
      mixture = seqio.MixtureRegistry.get(name)
      lines.append(f"mixture  {name}  ({len(mixture.tasks)} tasks)")
  for name in sorted(seqio.TaskRegistry.names()):
    if _matches(name, pattern):
      task = seqio.TaskRegistry.get(name)
      try:
        splits = ",".join(task.splits)
      except Exception:  # pylint: disable=broad-except  # a source that cannot list its splits
        splits = "?"
      lines.append(f"task     {name}  [{splits}]")
  return lines


def _text(value) -> str:
  return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def show_examples(name: str, count: int, split: str, seed: int) -> List[str]:
  import seqio  # pylint: disable=import-outside-toplevel
  from flan.data import examples as examples_lib  # pylint: disable=import-outside-toplevel
  provider = examples_lib.get_provider(name)
  kwargs = dict(sequence_length=None, split=split, shuffle=True, seed=seed, num_epochs=1,
                trim_output_features=False)
  if isinstance(provider, seqio.Mixture):
    kwargs.update(copy_pretokenized=True, num_epochs=None)
  dataset = provider.get_dataset(**kwargs).take(count)
  vocab = {k: provider.output_features[k].vocabulary for k in ("inputs", "targets")}
  out = []
  for index, example in enumerate(dataset.as_numpy_iterator()):
    out.append(f"=== {name} example {index + 1} ===")
    for feature in ("inputs", "targets"):
      text = example.get(f"{feature}_pretokenized")
      text = _text(text) if text is not None else vocab[feature].decode(
          example[feature].tolist())
      out.append(f"--- {feature} ({len(example[feature])} tokens) ---")
      out.append(text)
  if not out:
    out.append(f"{name} has no examples in split {split!r}")
  return out


def _percent(x: float) -> str:
  return f"{100 * x:.2f}%"


def stats_report(name: str, lengths: dict, count: int, split: str, seed: int,
                 chunk_size: int) -> List[str]:
  from flan.data import stats  # pylint: disable=import-outside-toplevel
  read = stats.read_examples(name, split=split, feature_lengths=lengths, count=count, seed=seed)
  examples = read.examples
  if not examples:
    return [f"{name} has no examples in split {split!r}"]
  out = [f"{name} [{split}]: {len(examples)} examples, lengths inputs {lengths['inputs']} / "
         f"targets {lengths['targets']}", "",
         "token lengths   " + "  ".join(f"{r:>11}" for r in _STATS_ROWS)]
  summary = stats.length_summary(examples, lengths)
  for feature in ("inputs", "targets"):
    row = summary[feature]
    out.append(f"{feature:<15} " + "  ".join(
        f"{row[r]:>11.1f}" if r == "mean" else f"{int(row[r]):>11d}" for r in _STATS_ROWS))
  out.append(f"truncated (over length): inputs {summary['inputs']['over_length']}, targets "
             f"{summary['targets']['over_length']} of {len(examples)} examples")
  ours = stats.pack_with_flan(examples, lengths, chunk_size=chunk_size, seed=seed)
  theirs = stats.pack_with_seqio(examples, lengths)
  out += ["", "packing (non-padding fraction of packed rows, same examples)",
          f"{'packer':<8} {'rows':>8} {'inputs fill':>12} {'targets fill':>13} {'examples/s':>11}"]
  for result in (theirs, ours):
    out.append(f"{result.packer:<8} {result.rows:>8d} {_percent(result.inputs_fill):>12} "
               f"{_percent(result.targets_fill):>13} {result.examples_per_second:>11.0f}")
  out.append(f"rows: flan/seqio = {ours.rows / max(theirs.rows, 1):.3f}  (fewer rows = less padding)")
  out.append(f"reading (templating + tokenizing): {read.examples_per_second:.0f} examples/s "
             f"after {read.start_seconds:.1f} s to start the pipeline")
  return out


def audit_report(name: str, steps, batch, examples_per_row: float, as_json: bool,
                 as_markdown: bool = False, measure: Optional[int] = None, lengths=None) -> List[str]:
  from flan.data import audit  # pylint: disable=import-outside-toplevel
  if (steps is None) != (batch is None):
    raise errors.ConfigError("audit: give --steps and --batch together (expected epochs need both)")
  if measure:
    examples_per_row = audit.measure_examples_per_row(name, lengths, measure)
  report = audit.audit(name, steps=steps, batch=batch, examples_per_row=examples_per_row)
  if as_json:
    return [json.dumps(report, indent=1, sort_keys=True)]
  if as_markdown:
    return audit.markdown_summary(report)
  return audit.format_report(report)


def _run(argv: Sequence[str]) -> int:
  args = build_parser().parse_args(argv)
  from flan.data import examples as examples_lib  # pylint: disable=import-outside-toplevel
  try:
    examples_lib.import_registrations(args.module)
  except ImportError as error:
    raise errors.ConfigError(f"cannot import module: {error}") from error
  try:
    if args.command == "contamination":
      return args.handler(args)
    if args.command == "list":
      lines = list_names(args.filter)
      if not lines:
        lines = [f"no registered task or mixture matches {args.filter!r}"]
    elif args.command == "show":
      lines = show_examples(args.name, args.n, args.split, args.seed)
    elif args.command == "stats":
      lines = stats_report(args.name, args.lengths, args.examples, args.split, args.seed,
                           args.chunk_size)
    else:
      lines = audit_report(args.name, args.steps, args.batch, args.examples_per_row, args.json, args.markdown,
                           args.measure, args.lengths)
  except errors.UserError:
    raise
  except ValueError as error:  # unknown names, bad splits, malformed data: the message names them
    raise errors.InputError(str(error)) from error
  print("\n".join(lines))
  return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
  return errors.run_command("flan-data", _run, argv)


if __name__ == "__main__":
  sys.exit(main())
