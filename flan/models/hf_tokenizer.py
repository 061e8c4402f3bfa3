"""The tokenizer of a Hugging Face decoder checkpoint (tokenizer.json through the `tokenizers` library, or a
SentencePiece tokenizer.model), with the interface of flan.models.tokenizer.Tokenizer: encode (no special
tokens), encode_batch, decode (up to the first EOS), eos_id, pad_id, vocab_size; plus `start_ids`, the tokens
the checkpoint's tokenizer puts in front of every text (its BOS convention; empty when it adds none).
"""
import json
import os
import pathlib
from typing import Iterable, Optional, Sequence

from flan.errors import ConfigError

TOKENIZER_JSON = "tokenizer.json"
SENTENCEPIECE_MODEL = "tokenizer.model"
TOKENIZER_CONFIG = "tokenizer_config.json"


def _token_text(value) -> Optional[str]:
  """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
  if isinstance(value, dict):
    return value.get("content")
  return value


def _read_json(path: pathlib.Path) -> dict:
  if not path.is_file():
    return {}
  try:
    data = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}: not valid JSON ({e})") from e
  return data if isinstance(data, dict) else {}


class HfTokenizer:
  """A decoder checkpoint's tokenizer; see the module docstring."""

  def __init__(self, directory: os.PathLike | str):
    self.directory = pathlib.Path(directory)
    settings = _read_json(self.directory / TOKENIZER_CONFIG)
    model_config = _read_json(self.directory / "config.json")
    if (self.directory / TOKENIZER_JSON).is_file():
      self._load_tokenizers_json(settings)
    elif (self.directory / SENTENCEPIECE_MODEL).is_file():
      self._load_sentencepiece(settings)
    else:
      raise ConfigError(f"{self.directory}: no {TOKENIZER_JSON} or {SENTENCEPIECE_MODEL} (the checkpoint's "
                        "tokenizer is needed to encode text)")
    eos = self._special_id(settings, "eos_token", model_config.get("eos_token_id"))
    if eos is None:
      raise ConfigError(f"{self.directory}: no EOS token: neither {TOKENIZER_CONFIG} 'eos_token' nor "
                        "config.json 'eos_token_id' names one")
    self.eos_id = eos
    self.bos_id = self._special_id(settings, "bos_token", model_config.get("bos_token_id"))
    pad = self._special_id(settings, "pad_token", model_config.get("pad_token_id"))
    self.pad_id = 0 if pad is None else pad  # rows are padded with pad_id; masks never depend on it

  # ---- loading ----------------------------------------------------------------------------------------

  def _load_tokenizers_json(self, settings):
    import tokenizers  # pylint: disable=import-outside-toplevel
    path = self.directory / TOKENIZER_JSON
    try:
      self._tok = tokenizers.Tokenizer.from_file(str(path))
    except Exception as e:  # the library raises its own exception type for malformed files
      raise ConfigError(f"{path}: not a readable tokenizers file ({e})") from e
    self._sp = None
    self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
    probe = "a"
    plain = self._tok.encode(probe, add_special_tokens=False).ids
    full = self._tok.encode(probe, add_special_tokens=True).ids
    # What the tokenizer's post-processor adds in front of a text (e.g. Llama's <s>, Llama 3's <|begin_of_text|>).
    start = full[:len(full) - len(plain)] if full[len(full) - len(plain):] == plain else []
    if "add_bos_token" in settings and not settings["add_bos_token"]:
      start = []
    self.start_ids = list(start)

  def _load_sentencepiece(self, settings):
    import sentencepiece  # pylint: disable=import-outside-toplevel
    path = self.directory / SENTENCEPIECE_MODEL
    self._tok = None
    self._sp = sentencepiece.SentencePieceProcessor()
    try:
      self._sp.Load(str(path))
    except (RuntimeError, OSError) as e:
      raise ConfigError(f"{path}: not a SentencePiece model ({e})") from e
    self.vocab_size = self._sp.GetPieceSize()
    # Llama's SentencePiece tokenizer adds BOS unless tokenizer_config.json says add_bos_token false.
    add_bos = settings.get("add_bos_token", True) and self._sp.bos_id() >= 0
    self.start_ids = [self._sp.bos_id()] if add_bos else []

  def _token_id(self, text: str) -> Optional[int]:
    if self._tok is not None:
      return self._tok.token_to_id(text)
    piece = self._sp.PieceToId(text)
    return piece if self._sp.IdToPiece(piece) == text else None

  def _special_id(self, settings, key: str, config_id) -> Optional[int]:
    text = _token_text(settings.get(key))
    if text is not None:
      found = self._token_id(text)
      if found is None:
        raise ConfigError(f"{self.directory / TOKENIZER_CONFIG}: key '{key}' is {text!r}, which is not in the "
                          "tokenizer's vocabulary")
      return found
    if isinstance(config_id, list):  # Llama 3 style lists: the first is the main one
      config_id = config_id[0] if config_id else None
    if config_id is None and self._sp is not None:
      found = {"eos_token": self._sp.eos_id(), "bos_token": self._sp.bos_id(), "pad_token": self._sp.pad_id()}[key]
      return found if found >= 0 else None
    return None if config_id is None else int(config_id)

  # ---- the Tokenizer interface ----------------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    if self._tok is not None:
      return list(self._tok.encode(text, add_special_tokens=False).ids)
    return list(self._sp.EncodeAsIds(text))

  def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
    if self._tok is not None:
      return [list(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]
    return [list(ids) for ids in self._sp.EncodeAsIds(list(texts))]

  def _clean(self, ids: Iterable[int]) -> list[int]:
    clean = []
    for i in ids:
      i = int(i)
      if i == self.eos_id:
        break
      if 0 <= i < self.vocab_size:
        clean.append(i)
    return clean

  def decode(self, ids: Iterable[int]) -> str:
    """Text of the ids up to the first EOS; special tokens (BOS, pad) are skipped."""
    clean = self._clean(ids)
    if self._tok is not None:
      return self._tok.decode(clean, skip_special_tokens=True)
    return self._sp.DecodeIds([i for i in clean if i not in (self._sp.bos_id(), self._sp.pad_id())])

  def decode_batch(self, rows: Iterable[Iterable[int]]) -> list[str]:
    return [self.decode(row) for row in rows]


TOKENIZER_FILES = (TOKENIZER_JSON, SENTENCEPIECE_MODEL, TOKENIZER_CONFIG, "special_tokens_map.json",
                   "generation_config.json")


def copy_tokenizer_files(source: os.PathLike | str, out_dir: os.PathLike | str) -> list[pathlib.Path]:
  """Copies the tokenizer files of a Hugging Face directory next to an export; returns the copies.
  Raises ConfigError when `source` has neither tokenizer.json nor tokenizer.model."""
  import shutil  # pylint: disable=import-outside-toplevel
  source, out_dir = pathlib.Path(source), pathlib.Path(out_dir)
  if not (source / TOKENIZER_JSON).is_file() and not (source / SENTENCEPIECE_MODEL).is_file():
    raise ConfigError(f"{source}: no {TOKENIZER_JSON} or {SENTENCEPIECE_MODEL} to copy")
  copied = []
  for name in TOKENIZER_FILES:
    if (source / name).is_file():
      copied.append(pathlib.Path(shutil.copy2(source / name, out_dir / name)))
  return copied
