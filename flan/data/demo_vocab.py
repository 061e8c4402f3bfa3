"""The demo tasks' own SentencePiece vocabulary: trained on generated demo text on first use and cached under
$FLAN_CACHE_DIR (default ~/.cache/flan). It belongs to the flan_demo tasks only (registered with it in
flan.data.demo); a configured vocabulary (FLAN_VOCAB_PATH / gin) takes precedence there too.
"""
import hashlib
import io
import os
import pathlib
from typing import Callable, Sequence

from flan.data import vocab

DEMO_VOCAB_SIZE = 1000
_DEMO_VERSION = "demo_spiece_v1"


def cache_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get("FLAN_CACHE_DIR") or pathlib.Path.home() / ".cache" / "flan")


def demo_vocabulary_path(corpus_lines: Callable[[], Sequence[str]]) -> str:
  """Path of the demo SentencePiece model trained on `corpus_lines()`; trained and cached on first use."""
  lines = list(corpus_lines())
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


class DemoVocabulary(vocab.LazySentencePieceVocabulary):
  """The configured vocabulary when there is one, else the demo model trained on `corpus_lines()`."""

  def __init__(self, corpus_lines: Callable[[], Sequence[str]]):
    self._corpus_lines = corpus_lines
    self._demo_path = None
    super().__init__()

  def resolve_path(self) -> str:
    configured = vocab.vocabulary_path()
    if configured:
      return vocab.resolve_vocabulary_path(configured)
    if self._demo_path is None:  # the demo text never changes: build (or find) its model once
      self._demo_path = demo_vocabulary_path(self._corpus_lines)
    return self._demo_path
