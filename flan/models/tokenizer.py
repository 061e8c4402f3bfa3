"""The T5 SentencePiece tokenizer without TensorFlow, id-compatible with seqio's SentencePieceVocabulary.

Like seqio, the `extra_ids` sentinels are appended to the SentencePiece model as user-defined pieces
"▁<extra_id_N>" in reverse order, so <extra_id_0> is the highest id (32099 for the 32,000-piece T5 vocabulary)
and "<extra_id_N>" written at a word start encodes to its sentinel. Pad is 0, EOS 1, UNK 2.
"""
import os
import pathlib
import struct
from typing import Iterable, Sequence

import sentencepiece

PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
_USER_DEFINED = 4  # sentencepiece ModelProto.SentencePiece.Type.USER_DEFINED


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    byte, value = value & 0x7F, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


def _user_defined_piece(piece: str) -> bytes:
  """A serialized ModelProto `pieces` entry (field 1) for a user-defined piece with score 0."""
  text = piece.encode("utf-8")
  message = (b"\x0a" + _varint(len(text)) + text      # piece: field 1, length-delimited
             + b"\x15" + struct.pack("<f", 0.0)        # score: field 2, fixed32
             + b"\x18" + _varint(_USER_DEFINED))       # type: field 3, varint
  return b"\x0a" + _varint(len(message)) + message


class Tokenizer:
  """encode(text) -> ids (no EOS); decode(ids) -> text up to the first EOS, without padding."""

  pad_id = PAD_ID
  eos_id = EOS_ID
  unk_id = UNK_ID

  def __init__(self, spiece_path: os.PathLike | str, extra_ids: int = 100):
    self.path = pathlib.Path(spiece_path)
    if not self.path.is_file():
      raise FileNotFoundError(f"{self.path}: SentencePiece model file not found")
    proto = self.path.read_bytes()
    # Repeated proto fields may be appended: the extra pieces land after the model's own pieces.
    proto += b"".join(_user_defined_piece(f"▁<extra_id_{i}>") for i in reversed(range(extra_ids)))
    self._sp = sentencepiece.SentencePieceProcessor()
    try:
      self._sp.LoadFromSerializedProto(proto)
    except (RuntimeError, OSError) as e:
      raise ValueError(f"{self.path}: not a SentencePiece model ({e})") from e
    self.extra_ids = extra_ids
    self.vocab_size = self._sp.GetPieceSize()
    self.base_vocab_size = self.vocab_size - extra_ids
    if self._sp.pad_id() != PAD_ID or self._sp.eos_id() != EOS_ID:
      raise ValueError(f"{self.path}: T5 needs pad id {PAD_ID} and EOS id {EOS_ID}; this model has pad "
                       f"{self._sp.pad_id()} and EOS {self._sp.eos_id()}")

  def sentinel_id(self, n: int) -> int:
    if not 0 <= n < self.extra_ids:
      raise ValueError(f"sentinel <extra_id_{n}> is outside the {self.extra_ids} extra ids")
    return self.vocab_size - 1 - n

  def encode(self, text: str) -> list[int]:
    return self._sp.EncodeAsIds(text)

  def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
    return self._sp.EncodeAsIds(list(texts))

  def _clean(self, ids: Iterable[int]) -> list[int]:
    clean = []
    for i in ids:
      i = int(i)
      if i == EOS_ID:
        break
      if i != PAD_ID:
        clean.append(i if 0 <= i < self.vocab_size else UNK_ID)
    return clean

  def decode(self, ids: Iterable[int]) -> str:
    return self._sp.DecodeIds(self._clean(ids))

  def decode_batch(self, rows: Iterable[Iterable[int]]) -> list[str]:
    return [self.decode(row) for row in rows]
