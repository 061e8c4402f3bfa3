"""flan-convert: write any checkpoint flan reads (Hugging Face, T5X, flan's own) in Hugging Face format.

  flan-convert --from PATH --to_hf OUT_DIR [--vocab spiece.model] [--dtype float32|bfloat16]

OUT_DIR gets config.json + model.safetensors (sharded above --max_shard_gb), loadable by transformers'
T5ForConditionalGeneration as is, and spiece.model + tokenizer_config.json when a vocabulary is known
(--vocab, or the spiece.model next to the source checkpoint).
"""
import argparse
import json
import logging
import pathlib
import shutil
import sys

log = logging.getLogger("flan.convert")


def tokenizer_config(extra_ids: int = 100) -> dict:
  return {"tokenizer_class": "T5Tokenizer", "extra_ids": extra_ids, "eos_token": "</s>",
          "pad_token": "<pad>", "unk_token": "<unk>", "model_max_length": 512,
          "additional_special_tokens": [f"<extra_id_{i}>" for i in range(extra_ids)]}


def convert_to_hf(source: pathlib.Path, out_dir: pathlib.Path, vocab: pathlib.Path | None = None,
                  dtype: str = "float32", max_shard_bytes: int = 5 * 1024**3) -> pathlib.Path:
  from flan.models import hf, pretrained  # pylint: disable=import-outside-toplevel
  config, params = pretrained.load_pretrained(source)
  hf.export_hf(config, params, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes)
  vocab = vocab or pretrained.find_vocabulary(source)
  if vocab is not None:
    if not vocab.is_file():
      raise FileNotFoundError(f"{vocab}: vocabulary file not found")
    if vocab.resolve() != (out_dir / pretrained.VOCAB_FILE).resolve():
      shutil.copyfile(vocab, out_dir / pretrained.VOCAB_FILE)
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
  else:
    log.warning("no vocabulary given or found next to %s: %s has no spiece.model", source, out_dir)
  return out_dir


def main(argv=None) -> int:
  logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
  logging.getLogger("flan").setLevel(logging.INFO)
  parser = argparse.ArgumentParser(prog="flan-convert", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--from", dest="source", required=True, type=pathlib.Path,
                      help="Hugging Face directory, T5X checkpoint, or flan model/checkpoint directory")
  parser.add_argument("--to_hf", required=True, type=pathlib.Path, help="output directory")
  parser.add_argument("--vocab", type=pathlib.Path, help="spiece.model to copy into the output")
  parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
  parser.add_argument("--max_shard_gb", type=float, default=5.0)
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  try:
    out = convert_to_hf(args.source, args.to_hf, args.vocab, args.dtype, int(args.max_shard_gb * 1024**3))
  except (ValueError, FileNotFoundError) as e:
    print(f"flan-convert: error: {e}", file=sys.stderr)
    return 2
  log.info("wrote %s", out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
