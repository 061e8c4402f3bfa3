"""flan-infer: score or predict JSONL rows with a pretrained or finetuned checkpoint.

  flan-infer --mode score --checkpoint PATH --input IN.jsonl --output OUT.jsonl [--vocab spiece.model]
  flan-infer --mode predict --checkpoint PATH --input IN.jsonl --output OUT.jsonl [--method greedy ...]

Input rows are JSON objects (UTF-8) with "inputs" (and "targets" for scoring) as JSON strings; every field,
"id" included, is copied to the output row, which adds "score" (summed log-probability of the target tokens,
EOS included) or "prediction" (decoded text); with --with_tokens also "input_ids" and "target_ids".
Checkpoints of both families: T5 (Hugging Face, T5X, flan) and decoder-only (Hugging Face Llama-family
directories with their tokenizer, flan). Decoder-only rows are `start inputs EOS targets EOS`
(flan.models.decoder_scoring); the scored ids are the targets and their EOS.

Inputs longer than --max_input_length tokens (EOS included; default 2048, the Flan-T5 finetuning input
length) keep their last tokens (a few-shot prompt loses its oldest exemplars); the log says how many were cut.
A target longer than --max_target_length (default 512) is an error in score mode: a cut target would be
scored as another text.
The output is written only when every row is done, all at once (never a partial file), and its location is
checked before any work. A flan model directory whose latest checkpoint cannot be read is used at its previous
step, with a warning.
"""
import argparse
import logging
import math
import pathlib
import sys
import time
from typing import Any

from flan import host_memory
from flan import jsonl
from flan.errors import InputError, UserError, run_command

log = logging.getLogger("flan.infer")
DEFAULT_MAX_INPUT_LENGTH = 2048
DEFAULT_MAX_TARGET_LENGTH = 512  # the Flan-T5 finetuning target length


def read_rows(path: pathlib.Path, required: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[int]]:
  """(rows, their line numbers); a missing or non-string required field is an InputError naming file:line."""
  rows, lines = [], []
  for number, row in jsonl.read_jsonl(path):
    for key in required:
      if key not in row:
        raise InputError(f"{path}:{number}: missing key {key!r}")
      if not isinstance(row[key], str):
        kind = "null" if row[key] is None else type(row[key]).__name__
        raise InputError(f"{path}:{number}: {key!r} must be a string, found {kind}")
    rows.append(row)
    lines.append(number)
  if not rows:
    raise InputError(f"{path}: no rows (an empty file or only blank lines)")
  return rows, lines


def _positive_int(text: str) -> int:
  try:
    value = int(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
  return value


def _non_negative_int(text: str) -> int:
  try:
    value = int(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
  if value < 0:
    raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
  return value


def _non_negative_float(text: str) -> float:
  try:
    value = float(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
  if not value >= 0:
    raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
  return value


def _probability(text: str) -> float:
  try:
    value = float(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
  if not 0.0 < value <= 1.0:
    raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
  return value


def parse_args(argv):
  parser = argparse.ArgumentParser(prog="flan-infer", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--mode", choices=("score", "predict"), required=True)
  parser.add_argument("--checkpoint", required=True, type=pathlib.Path,
                      help="Hugging Face directory, T5X checkpoint or flan model/checkpoint directory")
  parser.add_argument("--input", required=True, type=pathlib.Path, help="JSONL rows")
  parser.add_argument("--output", required=True, type=pathlib.Path, help="JSONL rows written here")
  parser.add_argument("--vocab", type=pathlib.Path,
                      help="SentencePiece model, when the checkpoint directory has no spiece.model (T5); a "
                           "tokenizer directory or file instead of a Llama checkpoint's own")
  parser.add_argument("--batch_size", type=_positive_int, default=8)
  parser.add_argument("--max_input_length", type=_positive_int, default=DEFAULT_MAX_INPUT_LENGTH,
                      help="longer inputs keep their last tokens (EOS included)")
  parser.add_argument("--max_target_length", type=_positive_int, default=DEFAULT_MAX_TARGET_LENGTH,
                      help="score mode: a longer target (EOS included) is an error, never cut")
  parser.add_argument("--with_tokens", action="store_true",
                      help="score mode: add each row's input_ids (the exact prefix fed to the model, start token "
                           "and separator included) and target_ids (the exact ids scored, EOS included)")
  parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                      help="activation dtype (parameters stay float32)")
  parser.add_argument("--model_parallel", type=_non_negative_int, default=0,
                      help="N > 0: shard parameters N ways (heads, mlp, vocab) on a (data, model) mesh of all "
                           "devices, batches over the data axis (batch_size must divide by it); 0: one device")
  predict = parser.add_argument_group("predict")
  predict.add_argument("--method", choices=("greedy", "sample", "beam"), default="greedy")
  predict.add_argument("--max_decode_length", type=_positive_int, default=64)
  predict.add_argument("--temperature", type=_non_negative_float, default=1.0)
  predict.add_argument("--top_k", type=_non_negative_int, default=0)
  predict.add_argument("--top_p", type=_probability, default=1.0)
  predict.add_argument("--beam_size", type=_positive_int, default=4)
  predict.add_argument("--length_penalty", type=float, default=0.6)
  predict.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def load_model(checkpoint: pathlib.Path, vocab: pathlib.Path | None):
  """(config, params, tokenizer) for a checkpoint of either family (T5: its spiece.model or --vocab; a Llama
  directory: its own tokenizer unless --vocab); refuses a tokenizer with more ids than the checkpoint's
  vocabulary. The one place flan-infer loads a model."""
  from flan.models import families  # pylint: disable=import-outside-toplevel
  return families.load_model_any(checkpoint, vocab)


def truncated_inputs(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], int]:
  """(token ids + EOS per text, keeping the last max_length; how many were cut)."""
  encoded, cut = [], 0
  for ids in tokenizer.encode_batch(texts):
    ids = list(ids) + [tokenizer.eos_id]
    if len(ids) > max_length:
      ids, cut = ids[len(ids) - max_length:], cut + 1
    encoded.append(ids)
  return encoded, cut


def make_mesh(args):
  """The (data, model) mesh of --model_parallel, or None; a size that does not fit the devices or the batch
  is an InputError naming the flags (checked before any work)."""
  if not args.model_parallel:
    return None
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  try:
    mesh = partitioning.make_mesh(data=-1, model=args.model_parallel)
    partitioning.check_batch_size(args.batch_size, mesh)
  except (UserError, ValueError) as e:  # partitioning raises ConfigError or ValueError
    raise InputError(f"--model_parallel {args.model_parallel} / --batch_size {args.batch_size}: {e}") from e
  return mesh


def run_model(args, config, params, tokenizer, rows: list[dict[str, Any]], lines: list[int],
              mesh=None) -> tuple[list[Any], int]:
  """(one result per row, how many inputs were truncated): the one model call of flan-infer, for either model
  family (flan.models.families). A score is a float, or with --with_tokens a dict with the score and the
  exact `input_ids` fed and `target_ids` scored. `lines` are the rows' line numbers in args.input."""
  from flan.models import families  # pylint: disable=import-outside-toplevel
  if args.mode == "score":
    pairs = [(r["inputs"], r["targets"]) for r in rows]
    inputs, targets, cut = families.encode_pairs(config, tokenizer, pairs, args.max_input_length)
    too_long = [i for i, ids in enumerate(targets) if len(ids) > args.max_target_length]
    if too_long:
      raise InputError(f"{args.input}:{lines[too_long[0]]}: the target has {len(targets[too_long[0]])} tokens, more "
                       f"than --max_target_length={args.max_target_length} ({len(too_long)} such rows); a cut "
                       "target would get the score of another text: raise the limit or shorten the targets")
    scores = families.score_ids_any(config, params, inputs, targets, batch_size=args.batch_size, mesh=mesh)
    if getattr(args, "with_tokens", False):
      return [{"score": float(v), "input_ids": [int(t) for t in x], "target_ids": [int(t) for t in y]}
              for v, x, y in zip(scores, inputs, targets)], cut
    return [float(v) for v in scores], cut
  _, cut = truncated_inputs(tokenizer, [r["inputs"] for r in rows], args.max_input_length)
  texts = families.predict_texts_any(
      config, params, tokenizer, [r["inputs"] for r in rows], method=args.method,
      max_decode_length=args.max_decode_length, batch_size=args.batch_size, temperature=args.temperature,
      top_k=args.top_k, top_p=args.top_p, beam_size=args.beam_size, length_penalty=args.length_penalty,
      seed=args.seed, max_input_length=args.max_input_length, mesh=mesh)
  return list(texts), cut


def check_paths(args) -> None:
  if args.output.resolve() == args.input.resolve():
    raise InputError(f"--output {args.output} is the input file; choose another output path")
  jsonl.check_writable(args.output)


def run(args) -> int:
  check_paths(args)
  mesh = make_mesh(args)
  required = ("inputs", "targets") if args.mode == "score" else ("inputs",)
  rows, lines = read_rows(args.input, required)
  config, params, tokenizer = load_model(args.checkpoint, args.vocab)
  config = config.replace(dtype=args.dtype, dropout_rate=0.0)
  start = time.perf_counter()
  values, cut = run_model(args, config, params, tokenizer, rows, lines, mesh)
  if cut:
    log.warning("%d of %d inputs were longer than --max_input_length=%d tokens and keep their last %d",
                cut, len(rows), args.max_input_length, args.max_input_length)
  if args.mode == "score":
    scores = [value["score"] if isinstance(value, dict) else value for value in values]
    bad = [line for line, value in zip(lines, scores) if not math.isfinite(value)]
    if bad:
      raise InputError(f"{args.checkpoint}: non-finite scores for {len(bad)} of {len(rows)} rows (first: "
                       f"{args.input}:{bad[0]}); the checkpoint's weights may be corrupt; nothing was written")
  key = "score" if args.mode == "score" else "prediction"
  jsonl.write_jsonl(args.output, [{**row, **(value if isinstance(value, dict) else {key: value})}
                                  for row, value in zip(rows, values)])
  log.info("%s: %d rows in %.1fs -> %s", args.mode, len(rows), time.perf_counter() - start, args.output)
  return 0


def _infer(argv) -> int:
  return run(parse_args(argv))


def main(argv=None) -> int:
  if argv is None:
    host_memory.restart_with_huge_pages("flan.infer", sys.argv[1:])
  logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
  logging.getLogger("flan").setLevel(logging.INFO)
  return run_command("flan-infer", _infer, argv)


if __name__ == "__main__":
  sys.exit(main())
