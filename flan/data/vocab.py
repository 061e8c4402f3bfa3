"""The SentencePiece vocabulary of flan tasks (T5's, 100 extra ids), chosen by configuration.

Which model file is used, first match wins:
  1. the `path` argument of get_vocabulary;
  2. the gin binding `flan.data.vocab.vocabulary_path.path = "..."` or the FLAN_VOCAB_PATH variable
     (for finetuning T5 / Flan-T5 this must be T5's spiece.model).
With neither, using a task's vocabulary is a configuration error: there is no fallback. Only the generated
demo tasks have a vocabulary of their own (flan.data.demo_vocab), used when none is configured.
The default vocabulary resolves its file lazily, so registering tasks never trains or reads anything.
"""
import functools
import os

import gin
import seqio

from flan.errors import ConfigError

EXTRA_IDS = 100
HOW_TO_CONFIGURE = ("set FLAN_VOCAB_PATH=/path/to/spiece.model or the gin binding "
                    "flan.data.vocab.vocabulary_path.path (T5's spiece.model for T5 / Flan-T5)")


@gin.configurable
def vocabulary_path(path: str | None = None) -> str | None:
  """The configured SentencePiece model path (gin or FLAN_VOCAB_PATH), or None."""
  return path or os.environ.get("FLAN_VOCAB_PATH") or None


def _check_model_file(path: str) -> str:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"SentencePiece model file {path!r} does not exist (set the vocabulary with "
                            "flan.data.vocab.vocabulary_path.path or FLAN_VOCAB_PATH)")
  return path


def resolve_vocabulary_path(path: str | None = None) -> str:
  """The model file that get_vocabulary(path) uses; ConfigError when none is given or configured."""
  if path:
    return _check_model_file(path)
  configured = vocabulary_path()
  if configured:
    return _check_model_file(configured)
  raise ConfigError(f"no vocabulary is configured: {HOW_TO_CONFIGURE}")


class LazySentencePieceVocabulary(seqio.SentencePieceVocabulary):
  """A SentencePieceVocabulary whose model file is chosen when it is used, not at construction: it follows the
  configuration (gin / FLAN_VOCAB_PATH) of the moment, loading the model again when that changes."""

  def __init__(self, extra_ids: int = EXTRA_IDS):
    self._resolved_path = None
    super().__init__("<resolved on first use>", extra_ids=extra_ids)

  def resolve_path(self) -> str:
    """The model file this vocabulary uses (subclasses choose differently)."""
    return resolve_vocabulary_path()

  @property
  def _sentencepiece_model_file(self):
    path = self.resolve_path()
    if path != self._resolved_path:
      self._resolved_path, self._model = path, None  # seqio caches the loaded model in _model
    return self._resolved_path

  def _model_context(self):
    _ = self._sentencepiece_model_file  # a changed configuration drops the cached model first
    return super()._model_context()

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
  """seqio vocabulary with 100 extra ids; path=None gives the configured model (lazily)."""
  if path is None:
    return LazySentencePieceVocabulary()
  return seqio.SentencePieceVocabulary(_check_model_file(str(path)), extra_ids=EXTRA_IDS)


def output_features(vocabulary: seqio.Vocabulary | None = None) -> dict[str, seqio.Feature]:
  vocabulary = vocabulary or get_vocabulary()
  return {
      "inputs": seqio.Feature(vocabulary=vocabulary, add_eos=True, required=False),
      "targets": seqio.Feature(vocabulary=vocabulary, add_eos=True),
  }


def task_vocabulary(name: str) -> tuple[str, int]:
  """(SentencePiece model file, number of token ids) of a registered task or mixture's targets;
  ConfigError (naming how to configure one) when the task needs a vocabulary that is not configured."""
  from flan.data import examples  # pylint: disable=import-outside-toplevel  # registers the tasks it names
  vocabulary = examples.get_provider(name).output_features["targets"].vocabulary
  path = vocabulary.sentencepiece_model_file
  return path, vocabulary.vocab_size
