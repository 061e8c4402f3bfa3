"""Packing fill of our best-fit packer against seqio's EncDecFeatureConverter(pack=True).

Both packers get the very same tokenized examples; printed side by side with the ratio.

  python bench/packing_efficiency.py                       # registered CoT mixture, 2048:512
  python bench/packing_efficiency.py --name flan_demo --lengths 256:64
  python bench/packing_efficiency.py --cot-dir ../shared/data/flan_cot   # TSVs, plain prompts
"""
import argparse
import os
import pathlib
import platform
import sys

import numpy as np

from flan.data import cli
from flan.data import examples as examples_lib
from flan.data import stats

DEFAULT_COT_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "flan_cot"
DEFAULT_SPIECE = DEFAULT_COT_DIR.parent / "t5_spiece" / "spiece.model"
COT_MIXTURE = "flan2022_cot_7"  # the 7 CoT datasets whose TSVs ../shared/data has


def machine() -> str:
  return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")


def tsv_examples(cot_dir: pathlib.Path, spiece: pathlib.Path, count: int):
  """CoT TSV rows with a plain prompt (question + cue -> rationale + answer), T5-tokenized."""
  import sentencepiece  # pylint: disable=import-outside-toplevel
  spm = sentencepiece.SentencePieceProcessor(model_file=str(spiece))
  rows = []
  for path in sorted(cot_dir.glob("*_train.tsv")):
    with open(path, encoding="utf-8") as f:
      rows += [line.rstrip("\n").split("\t") for line in f]
  order = np.random.default_rng(0).permutation(len(rows))[:count]
  out = []
  for i in order:
    question, answer, rationale = (field.replace("\\n", "\n") for field in rows[i])
    out.append((np.array(spm.encode(f"{question}\nExplain your reasoning, then answer.") + [1],
                         np.int32),
                np.array(spm.encode(f"{rationale} So the answer is {answer}.") + [1], np.int32)))
  return out


def default_name() -> str:
  """The registered CoT mixture."""
  if COT_MIXTURE not in examples_lib.registered_names():
    raise SystemExit(f"{COT_MIXTURE!r} is not registered; pass --name or --cot-dir")
  return COT_MIXTURE


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--name", default=None, help="registered task or mixture (default: CoT)")
  parser.add_argument("--cot-dir", type=pathlib.Path, default=None,
                      help="read these CoT TSVs directly instead of a registered mixture")
  parser.add_argument("--lengths", type=cli.parse_lengths, default=cli.parse_lengths("2048:512"))
  parser.add_argument("--examples", type=int, default=33443)
  parser.add_argument("--chunk-size", type=int, default=2048)
  parser.add_argument("--module", action="append", default=[])
  args = parser.parse_args(argv)
  # Registered CoT tasks read ../shared/data/flan_cot with T5's vocabulary unless told otherwise.
  os.environ.setdefault("FLAN_COT_DIR", str(DEFAULT_COT_DIR))
  os.environ.setdefault("FLAN_VOCAB_PATH", str(DEFAULT_SPIECE))
  examples_lib.import_registrations(args.module)
  name = args.name if args.name is not None else ("" if args.cot_dir else default_name())
  if name:
    examples = stats.read_examples(name, split="train", feature_lengths=args.lengths,
                                   count=args.examples).examples
    source = f"registered {name!r}"
  else:
    cot_dir = args.cot_dir or DEFAULT_COT_DIR
    examples = tsv_examples(cot_dir, DEFAULT_SPIECE, args.examples)
    source = f"CoT TSVs in {cot_dir} (plain prompts)"
  lengths = args.lengths
  ours = stats.pack_with_flan(examples, lengths, chunk_size=args.chunk_size)
  theirs = stats.pack_with_seqio(examples, lengths)
  print(f"packing efficiency: {source}, {len(examples)} examples, lengths "
        f"{lengths['inputs']}:{lengths['targets']}, our chunk {args.chunk_size}")
  print(f"machine: {machine()}")
  print(f"{'packer':<32} {'rows':>7} {'inputs fill':>12} {'targets fill':>13} {'examples/s':>11}")
  for label, r in (("seqio (EncDecFeatureConverter)", theirs), ("flan (best-fit)", ours)):
    print(f"{label:<32} {r.rows:>7d} {100 * r.inputs_fill:>11.2f}% "
          f"{100 * r.targets_fill:>12.2f}% {r.examples_per_second:>11.0f}")
  print(f"ratio flan/seqio: inputs fill {ours.inputs_fill / theirs.inputs_fill:.4f}, targets fill "
        f"{ours.targets_fill / theirs.targets_fill:.4f}, rows {ours.rows / theirs.rows:.4f}, "
        f"packing speed {ours.examples_per_second / theirs.examples_per_second:.1f}x")
  fuller = max(ours.inputs_fill, ours.targets_fill)
  print(f"fuller feature filled by flan: {100 * fuller:.2f}% (target >= 97%)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
