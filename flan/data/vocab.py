"""The SentencePiece vocabulary of every flan task (T5's, 100 extra ids), with a demo fallback.

Which model file is used, first match wins:
  1. the `path` argument of get_vocabulary;
  2. the gin binding `flan.data.vocab.vocabulary_path.path = "..."` or the FLAN_VOCAB_PATH variable
     (for finetuning T5 / Flan-T5 this must be T5's spiece.model);
  3. a small SentencePiece model trained on generated demo text, cached under $FLAN_CACHE_DIR
     (default ~/.cache/flan), built on first use.
The default vocabulary resolves its file lazily, so registering tasks never trains or reads anything.
"""
import functools
import hashlib
import io
import os
import pathlib

import gin
import seqio

EXTRA_IDS = 100
DEMO_VOCAB_SIZE = 1000
_DEMO_VERSION = "demo_spiece_v1"


@gin.configurable
def vocabulary_path(path: str | None = None) -> str | None:
  """The configured SentencePiece model path (gin or FLAN_VOCAB_PATH), or None."""
  return path or os.environ.get("FLAN_VOCAB_PATH") or None


def cache_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get("FLAN_CACHE_DIR") or pathlib.Path.home() / ".cache" / "flan")


def _check_model_file(path: str) -> str:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"SentencePiece model file {path!r} does not exist (set the vocabulary with "
                            "flan.data.vocab.vocabulary_path.path or FLAN_VOCAB_PATH)")
  return path


def demo_vocabulary_path() -> str:
  """Path of the demo SentencePiece model; trains and caches it on first use (a few seconds)."""
  from flan.data import demo  # pylint: disable=import-outside-toplevel
  lines = demo.corpus_lines()
  digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
  path = cache_dir() / f"{_DEMO_VERSION}_{digest}.model"
  if path.is_file():
    return str(path)
  import sentencepiece  # pylint: disable=import-outside-toplevel
  model = io.BytesIO()
  sentencepiece.SentencePieceTrainer.train(
      sentence_iterator=iter(lines), model_writer=model, vocab_size=DEMO_VOCAB_SIZE, model_type="unigram",
      pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=True, split_digits=True,
      character_coverage=1.0, hard_vocab_limit=False, num_threads=1, minloglevel=2)
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_suffix(f".tmp{os.getpid()}")
  partial.write_bytes(model.getvalue())
  os.replace(partial, path)  # atomic, so concurrent builders never see half a file
  return str(path)


def resolve_vocabulary_path(path: str | None = None) -> str:
  """The model file that get_vocabulary(path) uses (trains the demo model if it comes to that)."""
  if path:
    return _check_model_file(path)
  configured = vocabulary_path()
  if configured:
    return _check_model_file(configured)
  return demo_vocabulary_path()


class LazySentencePieceVocabulary(seqio.SentencePieceVocabulary):
  """A SentencePieceVocabulary whose model file is chosen on first use, not at construction."""

  def __init__(self, extra_ids: int = EXTRA_IDS):
    self._resolved_path = None
    super().__init__("<resolved on first use>", extra_ids=extra_ids)

  @property
  def _sentencepiece_model_file(self):
    if self._resolved_path is None:
      self._resolved_path = resolve_vocabulary_path()
    return self._resolved_path

  @_sentencepiece_model_file.setter
  def _sentencepiece_model_file(self, value):
    del value  # the path is resolved lazily

  def __eq__(self, other):
    if not isinstance(other, seqio.SentencePieceVocabulary):
      return False
    return self.sentencepiece_model_file == other.sentencepiece_model_file and self.extra_ids == other.extra_ids

  def __hash__(self):
    return id(self)


@functools.lru_cache(maxsize=None)
def get_vocabulary(path: str | None = None) -> seqio.SentencePieceVocabulary:
  """seqio vocabulary with 100 extra ids; path=None gives the configured or demo model (lazily)."""
  if path is None:
    return LazySentencePieceVocabulary()
  return seqio.SentencePieceVocabulary(_check_model_file(str(path)), extra_ids=EXTRA_IDS)


def output_features(vocabulary: seqio.Vocabulary | None = None) -> dict[str, seqio.Feature]:
  vocabulary = vocabulary or get_vocabulary()
  return {
      "inputs": seqio.Feature(vocabulary=vocabulary, add_eos=True, required=False),
      "targets": seqio.Feature(vocabulary=vocabulary, add_eos=True),
  }
