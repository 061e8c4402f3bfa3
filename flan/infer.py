"""flan-infer: score or predict JSONL rows with a pretrained or finetuned checkpoint.

  flan-infer --mode score --checkpoint PATH --input IN.jsonl --output OUT.jsonl [--vocab spiece.model]
  flan-infer --mode predict --checkpoint PATH --input IN.jsonl --output OUT.jsonl [--method greedy ...]

Input rows are JSON objects with "inputs" (and "targets" for scoring); every field, "id" included, is
copied to the output row, which adds "score" (summed log-probability of the target tokens, EOS included)
or "prediction" (decoded text).
"""
import argparse
import logging
import pathlib
import sys
import time
from typing import Any

from flan import jsonl

log = logging.getLogger("flan.infer")


def read_rows(path: pathlib.Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
  rows = []
  for number, row in jsonl.read_jsonl(path):
    for key in required:
      if key not in row:
        raise ValueError(f"{path}:{number}: missing key {key!r}")
      if not isinstance(row[key], str):
        raise ValueError(f"{path}:{number}: {key!r} must be a string, found {type(row[key]).__name__}")
    rows.append(row)
  return rows


def parse_args(argv):
  parser = argparse.ArgumentParser(prog="flan-infer", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--mode", choices=("score", "predict"), required=True)
  parser.add_argument("--checkpoint", required=True, type=pathlib.Path,
                      help="Hugging Face directory, T5X checkpoint or flan model/checkpoint directory")
  parser.add_argument("--input", required=True, type=pathlib.Path, help="JSONL rows")
  parser.add_argument("--output", required=True, type=pathlib.Path, help="JSONL rows written here")
  parser.add_argument("--vocab", type=pathlib.Path,
                      help="SentencePiece model, when the checkpoint directory has no spiece.model")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                      help="activation dtype (parameters stay float32)")
  parser.add_argument("--model_parallel", type=int, default=0,
                      help="N > 0: shard parameters N ways (heads, mlp, vocab) on a (data, model) mesh of all "
                           "devices, batches over the data axis (batch_size must divide by it); 0: one device")
  predict = parser.add_argument_group("predict")
  predict.add_argument("--method", choices=("greedy", "sample", "beam"), default="greedy")
  predict.add_argument("--max_decode_length", type=int, default=64)
  predict.add_argument("--temperature", type=float, default=1.0)
  predict.add_argument("--top_k", type=int, default=0)
  predict.add_argument("--top_p", type=float, default=1.0)
  predict.add_argument("--beam_size", type=int, default=4)
  predict.add_argument("--length_penalty", type=float, default=0.6)
  predict.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def resolve_vocabulary(checkpoint: pathlib.Path, vocab: pathlib.Path | None) -> pathlib.Path:
  from flan.models.pretrained import find_vocabulary  # pylint: disable=import-outside-toplevel
  found = find_vocabulary(checkpoint)
  if found is not None:
    return found
  if vocab is None:
    raise ValueError(f"{checkpoint}: no spiece.model next to the checkpoint; pass --vocab PATH")
  return vocab


def run(args) -> int:
  from flan.models.pretrained import load_pretrained  # pylint: disable=import-outside-toplevel
  from flan.models.tokenizer import Tokenizer  # pylint: disable=import-outside-toplevel
  required = ("inputs", "targets") if args.mode == "score" else ("inputs",)
  rows = read_rows(args.input, required)
  tokenizer = Tokenizer(resolve_vocabulary(args.checkpoint, args.vocab))
  config, params = load_pretrained(args.checkpoint)
  config = config.replace(dtype=args.dtype, dropout_rate=0.0)
  mesh = None
  if args.model_parallel:
    from flan import partitioning  # pylint: disable=import-outside-toplevel
    mesh = partitioning.make_mesh(data=-1, model=args.model_parallel)
  start = time.perf_counter()
  if args.mode == "score":
    from flan.models.scoring import score  # pylint: disable=import-outside-toplevel
    values = score(config, params, tokenizer, [(r["inputs"], r["targets"]) for r in rows],
                   batch_size=args.batch_size, mesh=mesh)
    out = [{**row, "score": float(value)} for row, value in zip(rows, values)]
  else:
    try:
      from flan.models.decoding import predict_texts  # pylint: disable=import-outside-toplevel
    except ImportError as e:
      raise NotImplementedError(
          "flan-infer --mode predict needs flan.models.decoding.predict_texts, which is not available "
          f"in this installation ({e})") from e
    texts = predict_texts(config, params, tokenizer, [r["inputs"] for r in rows], method=args.method,
                          max_decode_length=args.max_decode_length, batch_size=args.batch_size,
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          beam_size=args.beam_size, length_penalty=args.length_penalty, seed=args.seed,
                          mesh=mesh)
    out = [{**row, "prediction": text} for row, text in zip(rows, texts)]
  jsonl.write_jsonl(args.output, out)
  log.info("%s: %d rows in %.1fs -> %s", args.mode, len(rows), time.perf_counter() - start, args.output)
  return 0


def main(argv=None) -> int:
  logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
  logging.getLogger("flan").setLevel(logging.INFO)
  args = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    return run(args)
  except (ValueError, FileNotFoundError, NotImplementedError) as e:
    print(f"flan-infer: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
