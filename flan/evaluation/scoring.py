"""Per-example answer extraction and judging, and aggregation into a benchmark score.

extract(example, prediction) turns model text into a canonical answer (an option letter, a number, a
normalized string); judge(example, answer) gives the example's metrics (0/1 "accuracy", or TyDiQA's
"exact_match" and "f1"). Self-consistency votes over extracted answers.
"""
import re

from flan.evaluation import answers
from flan.evaluation import metrics

_OPTION_TARGET = re.compile(r"^\(([A-Z])\)$")


def _bbh_canonical(example, text):
  option = _OPTION_TARGET.match(example.gold)
  if option:
    return answers.extract_option_letter(text)
  text = answers.strip_answer(text)
  try:
    return answers.parse_number(text) if re.fullmatch(r"[-−]?\d+(?:[.,]\d+)*", text) else text.lower()
  except ValueError:
    return text.lower()


def extract(example, prediction):
  """The canonical answer of one prediction (None when no answer can be read)."""
  benchmark = example.benchmark
  if benchmark == "mmlu_direct":
    return answers.extract_option_letter(answers.strip_answer(prediction), "ABCD")
  if benchmark == "mmlu_cot":
    return answers.extract_option_letter(answers.extract_final_answer(prediction), "ABCD")
  if benchmark == "bbh_direct":
    return _bbh_canonical(example, prediction)
  if benchmark == "bbh_cot":
    return _bbh_canonical(example, answers.extract_final_answer(prediction, example.answer_phrases))
  if benchmark == "mgsm":
    return answers.extract_number(prediction, example.answer_phrases)
  if benchmark == "tydiqa":
    return answers.strip_answer(prediction) if prediction.strip() else ""
  raise ValueError(f"unknown benchmark {benchmark!r} for example {example.id}")


def vote_key(example, answer):
  """What self-consistency counts as the same answer."""
  if example.benchmark == "tydiqa" and answer is not None:
    return metrics.normalize_answer(answer)
  return answer


def gold_answer(example):
  if example.benchmark == "mgsm":
    return answers.parse_number(example.gold)
  if example.benchmark.startswith("mmlu"):
    return example.gold
  if example.benchmark.startswith("bbh"):
    option = _OPTION_TARGET.match(example.gold)
    return option.group(1) if option else _bbh_canonical(example, example.gold)
  return example.gold


def judge(example, answer):
  """{"accuracy": 0/1} or, for TyDiQA, {"exact_match": 0/1, "f1": 0-1}."""
  if example.benchmark == "tydiqa":
    golds = example.gold_aliases or (example.gold,)
    answer = answer or ""
    return {"exact_match": metrics.exact_match(answer, golds), "f1": metrics.f1_score(answer, golds)}
  gold = gold_answer(example)
  if isinstance(gold, float):
    correct = isinstance(answer, float) and answers.numbers_equal(answer, gold)
  else:
    correct = answer is not None and answer == gold
  return {"accuracy": float(correct)}


def score_predictions(example, predictions):
  """Metrics of one example given one prediction or several sampled ones (majority vote)."""
  if isinstance(predictions, str):
    predictions = [predictions]
  extracted = [extract(example, p) for p in predictions]
  if len(extracted) == 1:
    chosen = extracted[0]
  else:
    keys = [vote_key(example, a) for a in extracted]
    winner = metrics.majority_vote(keys)
    chosen = next((a for a, k in zip(extracted, keys) if k == winner), None)
  return chosen, judge(example, chosen)


# ---------------------------------------------------------------------------------------- aggregation

PRIMARY_METRIC = {"tydiqa": "exact_match"}
# How subsets combine into the benchmark's score: MMLU over all questions (as the benchmark's own
# evaluation code), BBH over tasks, MGSM over languages, TyDiQA over the non-English languages.
MICRO_AVERAGED = ("mmlu_direct", "mmlu_cot")


def aggregate(benchmark, examples, per_example_metrics, scored_subsets=None):
  """Benchmark summary: score, chance score ("random"), per-subset scores, counts (all percentages).

  scored_subsets: the subsets averaged into the score (None: all); the others are reported apart.
  """
  metric_names = sorted({name for m in per_example_metrics for name in m})
  primary = PRIMARY_METRIC.get(benchmark, "accuracy")
  subsets = {}
  for example, m in zip(examples, per_example_metrics):
    entry = subsets.setdefault(example.subset, {"count": 0, "chance": 0.0, **{n: 0.0 for n in metric_names}})
    entry["count"] += 1
    entry["chance"] += example.chance
    for name in metric_names:
      entry[name] += m[name]
  per_subset = {}
  for subset, entry in sorted(subsets.items()):
    count = entry.pop("count")
    per_subset[subset] = {"count": count, **{k: 100.0 * v / count for k, v in entry.items()}}
  scored = list(per_subset) if scored_subsets is None else [s for s in per_subset if s in scored_subsets]
  if not scored:
    raise ValueError(f"{benchmark}: no subset to score (present: {list(per_subset)}, asked: {scored_subsets})")
  summary = {"count": len(examples), "primary_metric": primary,
             "subsets_in_score": scored, "per_subset": per_subset}
  for name in metric_names + ["chance"]:
    if benchmark in MICRO_AVERAGED:
      total = sum(per_subset[s]["count"] for s in scored)
      value = sum(per_subset[s][name] * per_subset[s]["count"] for s in scored) / total
    else:
      value = sum(per_subset[s][name] for s in scored) / len(scored)
    summary[name] = value
  summary["score"] = summary[primary]
  summary["random"] = summary.pop("chance")
  if benchmark in MICRO_AVERAGED:
    summary["macro_" + primary] = sum(per_subset[s][primary] for s in scored) / len(scored)
  return summary
