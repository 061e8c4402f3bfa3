"""Normalized word n-grams hashed to 64 bits, and matching a batch of texts against sets of them.

Normalization (the same for evaluation items and training text): Unicode NFKC, lower case, every run of
characters that are not letters, digits, underscore or combining marks is a separator (punctuation and
whitespace vanish). Characters of scripts written without spaces (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar)
are one token each, so that a Chinese or Thai sentence is not a single "word".

A token hashes to 64 bits: the polynomial sum_k byte_k * P^k of its UTF-8 bytes plus its length times a
salt, through the splitmix64 finalizer. The n-gram of tokens t_0..t_{L-1} hashes to
sum_j hash(t_j) * P^j modulo 2^64. With prefix sums of hash(t_k) * P^k over a whole batch, every
window of every length is one subtraction and one multiplication (by the inverse power of the odd P).
No TensorFlow here.
"""
import re
import unicodedata
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

NORMALIZATION = "nfkc-lower-words/utf8-poly64-v1"  # recorded in index files: valid only for this version
DEFAULT_N = 13  # GPT-3 (Brown et al. 2020, appendix C) used 13-grams

_P = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse modulo 2^64
_P_INVERSE = np.uint64(pow(int(_P), -1, 1 << 64))
_LENGTH_SALT = np.uint64(0xD6E8FEB86659FD93)
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)  # splitmix64

# Scripts written without spaces between words: one token per character (with its combining marks).
_SPLIT_SCRIPTS = ("\u0e00-\u0e7f"  # Thai
                  "\u0e80-\u0eff"  # Lao
                  "\u1000-\u109f"  # Myanmar
                  "\u1780-\u17ff"  # Khmer
                  "\u3040-\u30ff"  # Hiragana, Katakana
                  "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff")  # CJK ideographs


def _mark_ranges() -> str:
  """A regex class body of the combining marks (Mn, Mc, Me) of the Basic Multilingual Plane."""
  ranges, start, previous = [], None, None
  for code in range(0x10000):
    if unicodedata.category(chr(code)).startswith("M"):
      if start is None:
        start = code
      previous = code
    elif start is not None:
      ranges.append((start, previous))
      start = None
  return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_MARKS = _mark_ranges()
# One character class: far faster than alternatives tested per character. Plain spaces already separate
# tokens and are left alone (most separators are single spaces, and each replacement costs).
_NOT_WORD = re.compile(f"[^\\w{_MARKS}\\x00 ]+")
_SPLIT = re.compile(f"[{_SPLIT_SCRIPTS}][{_MARKS}]*")
# The same tokens with their positions in the original text (only for marking hits, so speed matters less).
_TOKEN_IN_PLACE = re.compile(f"[{_SPLIT_SCRIPTS}][{_MARKS}]*|(?:(?![{_SPLIT_SCRIPTS}])\\w|[{_MARKS}])+")


def normalize(text: str) -> str:
  return text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()


def joined_tokens(texts: Sequence[str]) -> str:
  """The normalized tokens of every text: separated by spaces (maybe several) within a text, texts by NUL.

  One regex pass over the whole batch (NUL inside a text counts as a separator, like punctuation).
  """
  text = normalize("\x00".join(t.replace("\x00", " ") for t in texts))
  if not text.isascii() and _SPLIT.search(text):
    text = _SPLIT.sub(r" \g<0> ", text)
  return _NOT_WORD.sub(" ", text)


def tokens(text: str) -> List[str]:
  """The normalized tokens of `text` (underscore counts as a letter, as in \\w)."""
  return joined_tokens([text]).split()


def token_spans(text: str) -> Tuple[List[str], List[Tuple[int, int]]]:
  """Tokens with their character spans in `text` itself (for marking overlaps in the original text)."""
  out, spans = [], []
  for match in _TOKEN_IN_PLACE.finditer(text):
    word = match.group()
    normalized = word.lower() if word.isascii() else None
    for token in [normalized] if normalized is not None else tokens(word):
      out.append(token)
      spans.append(match.span())
  return out, spans


class Hasher:
  """Token and n-gram hashes (keeps the power tables it has grown)."""

  def __init__(self):
    self._powers = np.ones(1, np.uint64)
    self._inverse_powers = np.ones(1, np.uint64)

  def joined_token_hashes(self, joined: str) -> Tuple[np.ndarray, np.ndarray]:
    """(hash of every token, number of its text) of tokens joined by spaces, texts joined by NUL.

    A token's hash is the polynomial of its UTF-8 bytes plus its length, mixed by the splitmix64
    finalizer; all tokens of all texts are hashed in one vectorized pass (no Python loop per token).
    """
    data = np.frombuffer(joined.encode("utf-8"), np.uint8)
    breaks = data == 0
    separators = np.flatnonzero(breaks | (data == 32))
    starts = np.concatenate(([0], separators + 1))
    ends = np.concatenate((separators, [len(data)]))
    text_of = np.concatenate(([0], np.cumsum(breaks)))[starts]
    real = ends > starts
    starts, ends, text_of = starts[real], ends[real], text_of[real]
    prefix = self.prefix_sums(data.astype(np.uint64))
    with np.errstate(over="ignore"):
      values = (prefix[ends] - prefix[starts]) * self._inverse_powers[starts]
      values += (ends - starts).astype(np.uint64) * _LENGTH_SALT
      values ^= values >> np.uint64(30)
      values *= _MIX_1
      values ^= values >> np.uint64(27)
      values *= _MIX_2
      values ^= values >> np.uint64(31)
    return values, text_of

  def token_hashes(self, words: Sequence[str]) -> np.ndarray:
    return self.joined_token_hashes(" ".join(words))[0]

  def _ensure_powers(self, length: int) -> None:
    have = len(self._powers)
    if have >= length:
      return
    size = max(length, 2 * have)
    with np.errstate(over="ignore"):  # products wrap modulo 2^64, which is the arithmetic we want
      self._powers = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _P)], dtype=np.uint64)
      self._inverse_powers = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _P_INVERSE)], dtype=np.uint64)

  def prefix_sums(self, hashes: np.ndarray) -> np.ndarray:
    """S with S[i] = sum_{k<i} hashes[k] * P^k (mod 2^64); len(S) = len(hashes) + 1."""
    self._ensure_powers(len(hashes) + 1)
    out = np.zeros(len(hashes) + 1, np.uint64)
    with np.errstate(over="ignore"):
      np.cumsum(hashes * self._powers[:len(hashes)], out=out[1:])
    return out

  def window_hashes(self, prefix: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Hashes of the windows [s, s + length) for s in starts, from prefix_sums."""
    with np.errstate(over="ignore"):
      # (S[s+L] - S[s]) * P^-s = sum_j h[s+j] P^j, the same value wherever the window starts.
      return (prefix[starts + length] - prefix[starts]) * self._inverse_powers[starts]

  def gram_hashes(self, words: Sequence[str], length: int) -> np.ndarray:
    """Hashes of every `length`-gram of `words` (none when there are fewer words)."""
    if len(words) < length:
      return np.zeros(0, np.uint64)
    prefix = self.prefix_sums(self.token_hashes(words))
    return self.window_hashes(prefix, np.arange(len(words) - length + 1), length)


def item_grams(hasher: Hasher, words: Sequence[str], n: int) -> Tuple[int, np.ndarray]:
  """(gram length, unique hashes) of an evaluation item: its n-grams, or its whole text when shorter."""
  length = min(n, len(words))
  if length == 0:
    return 0, np.zeros(0, np.uint64)
  return length, np.unique(hasher.gram_hashes(words, length))


class GramSet:
  """Sorted unique hashes of one gram length, with a vectorized membership test.

  A table indexed by the top bits of a hash (about 16 slots per member) rejects most absent values with
  one look-up each; only the rest are searched in the sorted array.
  """

  def __init__(self, hashes: np.ndarray):
    self.hashes = np.unique(np.asarray(hashes, np.uint64))
    bits = int(min(26, max(8, np.ceil(np.log2(max(len(self.hashes), 1) * 16)))))
    self._shift = np.uint64(64 - bits)
    self._table = np.zeros(1 << bits, bool)
    self._table[self.hashes >> self._shift] = True

  def contains(self, values: np.ndarray) -> np.ndarray:
    if len(self.hashes) == 0 or len(values) == 0:
      return np.zeros(len(values), bool)
    out = self._table[values >> self._shift]
    candidates = np.flatnonzero(out)
    if len(candidates):
      wanted = values[candidates]
      positions = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
      out[candidates] = self.hashes[positions] == wanted
    return out


def overlapping_texts(hasher: Hasher, texts: Sequence[str], gram_sets: Dict[int, GramSet]) -> np.ndarray:
  """Indices (sorted) of the texts that contain a gram of any length in `gram_sets`.

  All texts go through one vectorized pass: tokens of the batch are concatenated; a window counts only
  when its first and last token belong to the same text.
  """
  hashes, owner = hasher.joined_token_hashes(joined_tokens(texts))
  if not len(hashes):
    return np.zeros(0, np.int64)
  prefix = hasher.prefix_sums(hashes)
  hit = np.zeros(len(texts), bool)
  for length, gram_set in gram_sets.items():
    if len(hashes) < length:
      continue
    starts = np.arange(len(hashes) - length + 1)
    starts = starts[owner[starts] == owner[starts + length - 1]]
    found = gram_set.contains(hasher.window_hashes(prefix, starts, length))
    hit[owner[starts[found]]] = True
  return np.flatnonzero(hit)


def matched_windows(hasher: Hasher, words: Sequence[str], lengths: Iterable[int],
                    contains) -> List[Tuple[int, int, int]]:
  """(start, length, hash) of each window of `words` whose hash `contains(length, hashes)` accepts."""
  out = []
  for length in sorted(set(lengths)):
    grams = hasher.gram_hashes(words, length)
    if len(grams):
      for start in np.flatnonzero(contains(length, grams)):
        out.append((int(start), length, int(grams[start])))
  return out


def marked_text(text: str, spans: Sequence[Tuple[int, int]], covered: Iterable[int],
                left: str = "[[", right: str = "]]") -> str:
  """`text` with the characters of the covered token positions bracketed (adjacent tokens joined)."""
  covered = sorted(set(covered))
  if not covered:
    return text
  runs, run_start, previous = [], covered[0], covered[0]
  for position in covered[1:]:
    if position != previous + 1:
      runs.append((run_start, previous))
      run_start = position
    previous = position
  runs.append((run_start, previous))
  pieces, cursor = [], 0
  for first, last in runs:
    begin, end = spans[first][0], spans[last][1]
    if begin < cursor:  # two runs inside one original word (split scripts): continue the bracket
      begin = cursor
    pieces += [text[cursor:begin], left, text[begin:end], right]
    cursor = end
  pieces.append(text[cursor:])
  return "".join(pieces)
