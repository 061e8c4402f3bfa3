"""flan-convert: write any checkpoint flan reads (Hugging Face, T5X, flan's own) in Hugging Face format.

  flan-convert --from PATH --to_hf OUT_DIR [--vocab spiece.model] [--dtype float32|bfloat16] [--overwrite]

OUT_DIR gets config.json + model.safetensors (sharded above --max_shard_gb), loadable by transformers'
T5ForConditionalGeneration as is, and spiece.model + tokenizer_config.json when a vocabulary is known
(--vocab, or the spiece.model next to the source checkpoint).

OUT_DIR must be new or empty; --overwrite replaces a non-empty one entirely. The export is written into a
temporary directory beside OUT_DIR and moved into place when complete, so OUT_DIR never holds a mix of an
old and a new export, nor a half-written one. OUT_DIR may not be, or hold, the source checkpoint.
"""
import argparse
import json
import logging
import os
import pathlib
import shutil
import sys
import tempfile

from flan.errors import EnvironmentProblem, InputError, describe_os_error, run_command

log = logging.getLogger("flan.convert")


def tokenizer_config(extra_ids: int = 100) -> dict:
  return {"tokenizer_class": "T5Tokenizer", "extra_ids": extra_ids, "eos_token": "</s>",
          "pad_token": "<pad>", "unk_token": "<unk>", "model_max_length": 512,
          "additional_special_tokens": [f"<extra_id_{i}>" for i in range(extra_ids)]}


def _within(path: pathlib.Path, directory: pathlib.Path) -> bool:
  return path == directory or directory in path.parents


def check_output(source: pathlib.Path, out_dir: pathlib.Path, overwrite: bool) -> None:
  """Refuses an output directory that is (or holds) the source, is a file, or is non-empty without
  `overwrite`."""
  source_path = source.resolve()
  source_dir = source_path if source_path.is_dir() else source_path.parent
  out = out_dir.resolve()
  if _within(source_dir, out):
    raise InputError(f"--to_hf {out_dir}: this directory is or holds the source checkpoint {source}; writing "
                     "there would overwrite it. Choose another output directory")
  if out.exists() and not out.is_dir():
    raise InputError(f"--to_hf {out_dir}: exists and is not a directory")
  if out.is_dir() and any(out.iterdir()) and not overwrite:
    raise InputError(f"--to_hf {out_dir}: directory is not empty; choose a new or empty directory, or pass "
                     "--overwrite to replace its contents")


def make_staging_dir(out_dir: pathlib.Path) -> pathlib.Path:
  """A new directory beside out_dir (same file system, so the final move is a rename); this is also the check
  that the output location is writable, before any work."""
  parent = out_dir.resolve().parent
  existing = next(p for p in [parent, *parent.parents] if p.exists())
  if not existing.is_dir():
    raise InputError(f"--to_hf {out_dir}: {existing} is a file, not a directory")
  try:
    parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.flan-convert-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the export gets the usual permissions
  except OSError as error:
    raise EnvironmentProblem(f"--to_hf {out_dir}: cannot write in {parent}: {describe_os_error(error)}") from error
  return staging


def move_into_place(staging: pathlib.Path, out_dir: pathlib.Path) -> None:
  """Replaces out_dir (absent, empty, or anything when --overwrite was given) by staging."""
  out = out_dir.resolve()
  if out.exists():
    previous = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
    previous.rmdir()
    out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous)
  else:
    staging.rename(out)


def load_model(source: pathlib.Path):
  """(config, params) of any checkpoint flan reads, T5 or decoder-only; the one place flan-convert loads a
  model."""
  from flan.models import families  # pylint: disable=import-outside-toplevel
  return families.load_pretrained_any(source)


def convert_to_hf(source: pathlib.Path, out_dir: pathlib.Path, vocab: pathlib.Path | None = None,
                  dtype: str = "float32", max_shard_bytes: int = 5 * 1024**3,
                  overwrite: bool = False) -> pathlib.Path:
  from flan.models import families, pretrained  # pylint: disable=import-outside-toplevel
  source, out_dir = pathlib.Path(source), pathlib.Path(out_dir)
  if max_shard_bytes <= 0:
    raise InputError(f"--max_shard_gb must be > 0, got {max_shard_bytes / 1024**3:g}")
  if vocab is not None and not vocab.is_file():
    raise InputError(f"--vocab {vocab}: vocabulary file not found")
  check_output(source, out_dir, overwrite)
  staging = make_staging_dir(out_dir)
  try:
    config, params = load_model(source)
    if families.family_of(config) == "decoder":
      _export_decoder(source, config, params, staging, vocab, dtype, max_shard_bytes)
      move_into_place(staging, out_dir)
      return out_dir
    vocab = vocab or pretrained.find_vocabulary(source)
    if vocab is not None:
      pretrained.check_vocabulary_fits(pretrained.open_tokenizer(vocab).vocab_size, vocab, config, source)
    families.export_hf_any(config, params, staging, dtype=dtype, max_shard_bytes=max_shard_bytes)
    if vocab is not None:
      shutil.copyfile(vocab, staging / pretrained.VOCAB_FILE)
      (staging / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
    else:
      log.warning("no vocabulary given or found next to %s: %s has no spiece.model", source, out_dir)
    move_into_place(staging, out_dir)
  finally:
    if staging.exists():
      shutil.rmtree(staging, ignore_errors=True)
  return out_dir


def _export_decoder(source, config, params, staging, vocab, dtype, max_shard_bytes):
  """A LlamaForCausalLM directory with the source's tokenizer files (a Llama directory's own), or the
  SentencePiece model of a flan decoder checkpoint (its spiece.model, else --vocab)."""
  from flan.models import families, hf_llama, hf_tokenizer, pretrained  # pylint: disable=import-outside-toplevel
  families.export_hf_any(config, params, staging, dtype=dtype, max_shard_bytes=max_shard_bytes)
  if hf_llama.is_llama_directory(source):
    hf_tokenizer.copy_tokenizer_files(source if source.is_dir() else source.parent, staging)
    return
  vocab = vocab or pretrained.find_vocabulary(source)
  if vocab is None:
    log.warning("no vocabulary given or found next to %s: the export has no tokenizer", source)
    return
  pretrained.check_vocabulary_fits(pretrained.open_tokenizer(vocab).vocab_size, vocab, config, source)
  shutil.copyfile(vocab, staging / "tokenizer.model")


def _positive_float(text: str) -> float:
  try:
    value = float(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
  if not value > 0:
    raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
  return value


def parse_args(argv):
  parser = argparse.ArgumentParser(prog="flan-convert", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--from", dest="source", required=True, type=pathlib.Path,
                      help="Hugging Face directory, T5X checkpoint, or flan model/checkpoint directory")
  parser.add_argument("--to_hf", required=True, type=pathlib.Path, help="output directory (new or empty)")
  parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory entirely")
  parser.add_argument("--vocab", type=pathlib.Path, help="spiece.model to copy into the output")
  parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
  parser.add_argument("--max_shard_gb", type=_positive_float, default=5.0,
                      help="largest safetensors file before the export is sharded (GB, > 0)")
  return parser.parse_args(argv)


def _convert(argv) -> int:
  args = parse_args(argv)
  out = convert_to_hf(args.source, args.to_hf, args.vocab, args.dtype, int(args.max_shard_gb * 1024**3),
                      overwrite=args.overwrite)
  log.info("wrote %s", out)
  return 0


def main(argv=None) -> int:
  logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
  logging.getLogger("flan").setLevel(logging.INFO)
  return run_command("flan-convert", _convert, argv)


if __name__ == "__main__":
  sys.exit(main())
