"""One entry point for pretrained weights: Hugging Face directories, T5X checkpoints, flan's own checkpoints."""
import os
import pathlib
from typing import Any

from flan import native_checkpoint
from flan.errors import InputError, UserError
from flan.models import hf, t5x
from flan.models.config import T5Config

VOCAB_FILE = "spiece.model"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5")
_MSGPACK_MAP_PREFIXES = set(range(0x80, 0x90)) | {0xDE, 0xDF}


class CheckpointNotFound(InputError, FileNotFoundError):
  """A checkpoint path, or a file a checkpoint names, that does not exist (an input error: exit 2)."""


def _looks_like_msgpack_map(path: pathlib.Path) -> bool:
  with open(path, "rb") as f:
    first = f.read(1)
  return bool(first) and first[0] in _MSGPACK_MAP_PREFIXES


def checkpoint_kind(path: os.PathLike | str) -> str:
  """'hf', 't5x' or 'flan'; raises for pickles, unknown formats and missing paths."""
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"{path}: no such checkpoint file or directory")
  if path.is_file():
    if path.suffix in PICKLE_SUFFIXES:
      raise ValueError(
          f"{path}: {path.suffix} files are pickles (or TF/Keras weights); flan never unpickles. Convert "
          "the model to safetensors first, in an environment with torch and transformers: "
          "`AutoModelForSeq2SeqLM.from_pretrained(DIR).save_pretrained(OUT_DIR, safe_serialization=True)`, "
          "and load OUT_DIR (with its config.json).")
    if path.name == "config.json":
      return "hf"
    if _looks_like_msgpack_map(path):
      return "t5x"
    raise ValueError(f"{path}: not a recognized checkpoint file (expected a T5X msgpack checkpoint, or a "
                     "directory with config.json + safetensors, a T5X checkpoint_N directory or a flan "
                     "model directory)")
  if (path / hf.CONFIG_FILE).exists():
    return "hf"
  if (path / t5x.CHECKPOINT_FILE).is_file():
    return "t5x"
  if native_checkpoint.is_native_checkpoint(path):
    return "flan"
  hf.refuse_pickle_only(path)
  raise ValueError(f"{path}: found no checkpoint here: no config.json (Hugging Face), no T5X 'checkpoint' "
                   "file and no flan checkpoints/ directory")


def load_pretrained(path: os.PathLike | str) -> tuple[T5Config, dict[str, Any]]:
  """(T5Config, params in flan's layout as float32 numpy) from any supported checkpoint.

  A checkpoint that is missing, malformed or of an unsupported kind raises InputError (CheckpointNotFound,
  also a FileNotFoundError, for missing files) with the loader's message naming the file."""
  try:
    kind = checkpoint_kind(path)
    path = pathlib.Path(path)
    if kind == "hf":
      return hf.import_hf(path.parent if path.is_file() else path)
    if kind == "t5x":
      return t5x.import_t5x(path)
    return native_checkpoint.load_params_for_inference(str(path))
  except UserError:
    raise
  except FileNotFoundError as error:
    raise CheckpointNotFound(str(error)) from error
  except ValueError as error:
    raise InputError(str(error)) from error


def check_vocabulary_fits(tokenizer_size: int, vocab_path: os.PathLike | str, config: T5Config,
                          checkpoint: os.PathLike | str) -> None:
  """Refuses a tokenizer with more ids than the checkpoint has embeddings (its extra ids would index past the
  embedding table, which gives NaN scores and non-finite losses, not an error). A smaller tokenizer is fine:
  T5 checkpoints pad their vocabulary (32,128 embeddings for the 32,100 ids of the T5 tokenizer)."""
  if tokenizer_size > config.vocab_size:
    raise InputError(f"{vocab_path}: the tokenizer has {tokenizer_size} ids (extra ids included) but the "
                     f"checkpoint {checkpoint} has vocab_size {config.vocab_size}; use the vocabulary the "
                     "checkpoint was trained with (--vocab)")


def open_tokenizer(path: os.PathLike | str):
  """flan.models.tokenizer.Tokenizer of a SentencePiece file; a missing or malformed file is an InputError."""
  from flan.models.tokenizer import Tokenizer  # pylint: disable=import-outside-toplevel
  try:
    return Tokenizer(path)
  except FileNotFoundError as error:
    raise CheckpointNotFound(str(error)) from error
  except ValueError as error:
    raise InputError(str(error)) from error


def find_vocabulary(path: os.PathLike | str) -> pathlib.Path | None:
  """The spiece.model that ships with a checkpoint: in its directory, or its model directory."""
  path = pathlib.Path(path)
  directory = path if path.is_dir() else path.parent
  candidates = [directory]
  if directory.name.startswith("checkpoint_") or directory.name == "checkpoints":
    candidates.append(directory.parent)  # T5X <model_dir>/checkpoint_N, flan <model_dir>/checkpoints
  if directory.name.isdigit() and directory.parent.name == "checkpoints":  # flan: <model_dir>/checkpoints/N
    candidates.append(directory.parent.parent)
  for candidate in candidates:
    if (candidate / VOCAB_FILE).is_file():
      return candidate / VOCAB_FILE
  return None
