"""Metrics: accuracy, SQuAD-style exact match / F1, the paper's normalized average, majority vote."""
import collections
import re
import string
import unicodedata

_PUNCTUATION = set(string.punctuation) | {
    c for c in map(chr, range(0x2000, 0x206F + 1)) if unicodedata.category(c).startswith("P")} | set(
        "。、，！？；：「」『』（）《》【】«»¿¡।॥")
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")


def accuracy(correct):
  """Percentage of true values in a sequence of booleans (0.0 for an empty sequence)."""
  correct = list(correct)
  return 100.0 * sum(bool(c) for c in correct) / len(correct) if correct else 0.0


def normalize_answer(text):
  """SQuAD v1.1 normalization: lowercase, drop punctuation and English articles, squeeze whitespace."""
  text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
  text = _ENGLISH_ARTICLES.sub(" ", text)
  return " ".join(text.split())


def exact_match(prediction, golds):
  """1.0 when the normalized prediction equals any normalized gold answer."""
  prediction = normalize_answer(prediction)
  return float(any(prediction == normalize_answer(gold) for gold in golds))


def _token_f1(prediction_tokens, gold_tokens):
  common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
  overlap = sum(common.values())
  if overlap == 0:
    return 0.0
  precision, recall = overlap / len(prediction_tokens), overlap / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def f1_score(prediction, golds):
  """Best bag-of-tokens F1 (normalized tokens) of the prediction against any gold answer."""
  prediction_tokens = normalize_answer(prediction).split()
  return max(_token_f1(prediction_tokens, normalize_answer(gold).split()) for gold in golds)


def normalized_score(raw, random):
  """100 * (raw - random) / (100 - random): 0 at chance, 100 at perfect."""
  if not 0.0 <= random < 100.0:
    raise ValueError(f"random score {random} must be in [0, 100)")
  return 100.0 * (raw - random) / (100.0 - random)


def normalized_average(raw_scores, random_scores):
  """Mean normalized score over the benchmarks in raw_scores ({name: raw}, {name: random})."""
  missing = sorted(set(raw_scores) - set(random_scores))
  if missing:
    raise ValueError(f"no random (chance) score for {missing}")
  if not raw_scores:
    raise ValueError("normalized_average needs at least one score")
  return sum(normalized_score(raw_scores[k], random_scores[k]) for k in raw_scores) / len(raw_scores)


def majority_vote(answers):
  """The most frequent answer (None votes ignored); ties go to the answer seen first."""
  counts = collections.Counter(a for a in answers if a is not None)
  if not counts:
    return None
  top = max(counts.values())
  return next(a for a in answers if a is not None and counts[a] == top)
