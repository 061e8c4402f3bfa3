"""flan.models.tokenizer against ids that seqio 0.0.20's SentencePieceVocabulary(extra_ids=100) gives for the
same T5 vocabulary (recorded here so the test needs no TensorFlow)."""
import pytest

from flan.models.tokenizer import Tokenizer

SEQIO_IDS = {
    "Hello world": [8774, 296],
    "translate English to German: The house is wonderful.": [13959, 1566, 12, 2968, 10, 37, 629, 19, 1627, 5],
    "  leading  spaces and Üñîçødé — “quotes” 123":
        [1374, 4856, 11, 3, 14858, 2, 3633, 8970, 2, 3764, 3, 318, 105, 8270, 15, 7, 153, 3, 14574],
    "a<extra_id_0>b": [3, 9, 2, 25666, 834, 23, 26, 834, 632, 3155, 115],
    "I like <extra_id_0> sandwiches <extra_id_99>.": [27, 114, 32099, 20017, 32000, 5],
    "": [],
}


@pytest.fixture(scope="module")
def tokenizer(shared_data):
  return Tokenizer(shared_data / "t5_spiece" / "spiece.model")


def test_sizes_and_special_ids(tokenizer):
  assert (tokenizer.vocab_size, tokenizer.base_vocab_size) == (32100, 32000)
  assert (tokenizer.pad_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2)
  assert tokenizer.sentinel_id(0) == 32099 and tokenizer.sentinel_id(99) == 32000
  with pytest.raises(ValueError, match="extra_id_100"):
    tokenizer.sentinel_id(100)


@pytest.mark.parametrize("text", sorted(SEQIO_IDS))
def test_encode_matches_seqio(tokenizer, text):
  assert tokenizer.encode(text) == SEQIO_IDS[text]


def test_encode_batch(tokenizer):
  texts = sorted(SEQIO_IDS)
  assert tokenizer.encode_batch(texts) == [SEQIO_IDS[t] for t in texts]


def test_decode_stops_at_eos_drops_padding_and_renders_sentinels(tokenizer):
  assert tokenizer.decode([8774, 0, 296, 1, 5, 6]) == "Hello world"
  assert tokenizer.decode([27, 114, 32099, 20017, 32000, 5]) == "I like <extra_id_0> sandwiches <extra_id_99>."
  # Ids past the vocabulary (the model's 32128 rows) decode as UNK, as in seqio.
  assert tokenizer.decode([8774, 32120]) == "Hello ⁇ "
  assert tokenizer.decode_batch([[8774, 1], [296]]) == ["Hello", "world"]


def test_roundtrip_of_plain_text(tokenizer):
  text = "translate English to German: The house is wonderful."
  assert tokenizer.decode(tokenizer.encode(text) + [1]) == text


def test_missing_and_invalid_model_files(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.model"):
    Tokenizer(tmp_path / "nope.model")
  bad = tmp_path / "bad.model"
  bad.write_bytes(b"not a sentencepiece model")
  with pytest.raises(ValueError, match="bad.model"):
    Tokenizer(bad)
