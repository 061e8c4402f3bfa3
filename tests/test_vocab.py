"""Vocabulary: T5 SentencePiece with 100 extra ids, configurable path, cached demo fallback."""
import os

import pytest
import seqio

from flan import errors
from flan.data import demo
from flan.data import demo_vocab
from flan.data import vocab


def test_t5_vocabulary_from_path(shared_data):
  vocabulary = vocab.get_vocabulary(str(shared_data / "t5_spiece" / "spiece.model"))
  assert isinstance(vocabulary, seqio.SentencePieceVocabulary)
  assert vocabulary.vocab_size == 32100 and vocabulary.extra_ids == 100
  ids = vocabulary.encode("Translate to German: That is good.")
  assert vocabulary.decode(ids) == "Translate to German: That is good."
  assert 2 in vocabulary.encode("{x}")  # T5's vocabulary has no curly braces: they become <unk> (id 2)
  assert vocabulary.eos_id == 1 and vocabulary.pad_id == 0


def test_missing_model_file_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.model"):
    vocab.get_vocabulary(str(tmp_path / "nope.model"))


def test_configured_path_wins(shared_data, monkeypatch):
  path = str(shared_data / "t5_spiece" / "spiece.model")
  monkeypatch.setenv("FLAN_VOCAB_PATH", path)
  assert vocab.resolve_vocabulary_path() == path
  assert vocab.LazySentencePieceVocabulary().vocab_size == 32100


def test_no_configured_vocabulary_is_an_error_naming_how_to_set_one(monkeypatch):
  monkeypatch.delenv("FLAN_VOCAB_PATH", raising=False)
  with pytest.raises(errors.ConfigError, match="FLAN_VOCAB_PATH.*vocabulary_path.path"):
    vocab.resolve_vocabulary_path()
  with pytest.raises(errors.ConfigError, match="FLAN_VOCAB_PATH"):
    vocab.LazySentencePieceVocabulary().vocab_size  # pylint: disable=expression-not-assigned


def test_demo_vocabulary_is_trained_once_and_cached(tmp_path, monkeypatch):
  monkeypatch.delenv("FLAN_VOCAB_PATH", raising=False)
  monkeypatch.setenv("FLAN_CACHE_DIR", str(tmp_path))
  corpus = demo.corpus_lines
  path = demo_vocab.demo_vocabulary_path(corpus)
  assert os.path.dirname(path) == str(tmp_path) and os.path.isfile(path)
  mtime = os.path.getmtime(path)
  assert demo_vocab.demo_vocabulary_path(corpus) == path and os.path.getmtime(path) == mtime  # cached
  vocabulary = demo_vocab.DemoVocabulary(corpus)
  assert vocabulary.sentencepiece_model_file == path
  assert vocabulary.extra_ids == 100 and vocabulary.eos_id == 1 and vocabulary.pad_id == 0
  assert 400 < vocabulary.vocab_size <= demo_vocab.DEMO_VOCAB_SIZE + 100
  text = "What is 7 plus 8? Is 12 greater than 3? {weird} ünïcode"
  assert vocabulary.decode(vocabulary.encode(text)) == text  # byte fallback: nothing is lost
  assert len(vocabulary.encode("What is 7 plus 8?")) <= 12  # words are pieces: the demo text is its training data


def test_demo_tasks_use_the_configured_vocabulary_first(shared_data, monkeypatch):
  path = str(shared_data / "t5_spiece" / "spiece.model")
  monkeypatch.setenv("FLAN_VOCAB_PATH", path)
  assert demo_vocab.DemoVocabulary(demo.corpus_lines).sentencepiece_model_file == path
