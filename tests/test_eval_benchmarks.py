"""The four benchmarks on the ../shared/data samples: prompt counts and formats, gold and chance scoring."""
import collections
import csv
import json

import pytest

from flan.evaluation import answers
from flan.evaluation import benchmarks
from flan.evaluation import runner
from flan.evaluation import scoring


@pytest.fixture(scope="module")
def dirs(shared_data):
  return benchmarks.DataDirs(mmlu_dir=str(shared_data / "mmlu_sample"), bbh_dir=str(shared_data / "bbh_sample"),
                             tydiqa_dir=str(shared_data / "tydiqa_sample"),
                             mgsm_dir=str(shared_data / "mgsm_sample"))


@pytest.fixture(scope="module")
def collected(dirs):
  return runner.collect_examples(benchmarks.BENCHMARKS, dirs)


def _expected_counts(shared_data):
  mmlu = sum(sum(1 for _ in csv.reader(open(p, encoding="utf-8", newline=""))) for p in
             (shared_data / "mmlu_sample/data/test").glob("*.csv"))
  bbh = sum(len(json.loads(p.read_text())["examples"]) for p in (shared_data / "bbh_sample/bbh").glob("*.json"))
  mgsm = sum(len(p.read_text(encoding="utf-8").strip().split("\n")) for p in
             (shared_data / "mgsm_sample").glob("mgsm_*.tsv"))
  return {"mmlu_direct": mmlu, "mmlu_cot": mmlu, "bbh_direct": bbh, "bbh_cot": bbh,
          "tydiqa": 440 + 499,  # english + swahili question counts from tydiqa_sample/PROVENANCE.md
          "mgsm": mgsm}


def test_prompt_counts(collected, shared_data):
  counts = {name: len(examples) for name, (examples, _) in collected.items()}
  assert counts == _expected_counts(shared_data)
  assert counts["bbh_direct"] == 1000 and counts["mgsm"] == 750
  ids = [e.id for examples, _ in collected.values() for e in examples]
  assert len(ids) == len(set(ids))
  per_subset = collections.Counter(e.subset for e in collected["mgsm"][0])
  assert per_subset == {"de": 250, "en": 250, "zh": 250}


def test_mmlu_prompt_format(collected):
  example = collected["mmlu_direct"][0][0]
  assert example.prompt.startswith(
      "The following are multiple choice questions (with answers) about abstract algebra.\n\n")
  assert example.prompt.count("\nAnswer:") == 6 and example.prompt.endswith("\nD. 6\nAnswer:")
  assert "\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n" in example.prompt
  cot = collected["mmlu_cot"][0][0]
  assert cot.prompt.endswith("(A) 0 (B) 4 (C) 2 (D) 6\nA: Let's think step by step.")
  assert cot.prompt.count("The answer is (") == 5
  assert collected["mmlu_cot"][1] == "answer-only fallback"


def test_bbh_prompt_format(collected):
  direct = [e for e in collected["bbh_direct"][0] if e.subset == "date_understanding"][0]
  assert direct.prompt.startswith("Infer the date from context.\n\nQ: Today is Christmas Eve of 1937.")
  assert direct.prompt.count("\nA: ") == 3 and "\nA: (D)\n\nQ:" in direct.prompt
  assert direct.prompt.endswith("\nA:") and "step by step" not in direct.prompt
  assert "canary" not in direct.prompt
  cot = [e for e in collected["bbh_cot"][0] if e.subset == "date_understanding"][0]
  assert cot.prompt.count("So the answer is") == 3
  assert cot.prompt.endswith("(F) 07/25/1937\nA: Let's think step by step.")


def test_mgsm_and_tydiqa_prompt_format(collected):
  german = [e for e in collected["mgsm"][0] if e.subset == "de"][0]
  assert german.prompt.count("Frage: ") == 9 and german.prompt.count("Schritt-für-Schritt-Antwort:") == 9
  assert german.prompt.endswith("\nSchritt-für-Schritt-Antwort:")
  assert set(german.answer_phrases[:2]) == {"Die Antwort ist", "Die Antwort lautet"}
  chinese = [e for e in collected["mgsm"][0] if e.subset == "zh"][0]
  assert chinese.answer_phrases[0] == "答案是" and chinese.prompt.endswith("\n逐步解答：")
  tydiqa = collected["tydiqa"][0][0]
  assert tydiqa.prompt.count("Passage: ") == 2 and tydiqa.prompt.endswith("\nAnswer:")
  assert tydiqa.prompt.count("\nAnswer: ") == 1  # the exemplar's answer, not the test question's


def _score(collected, name, predict):
  examples, _ = collected[name]
  summary, _ = runner.score_benchmark(name, examples, {e.id: predict(e) for e in examples})
  return summary


def test_gold_predictions_score_100(collected):
  for name in benchmarks.BENCHMARKS:
    summary = _score(collected, name, lambda e: e.gold)
    assert summary["score"] == pytest.approx(100.0), name
  # Gold answers wrapped the way models write them also score 100.
  wrapped = {
      "mmlu_cot": lambda e: f"Reasons. The answer is ({e.gold}).",
      "bbh_cot": lambda e: f"Some steps. So the answer is {e.gold}.",
      "mgsm": lambda e: f"{e.answer_phrases[0]} {int(answers.parse_number(e.gold)):,}.",
      "tydiqa": lambda e: f" The {e.gold}. ",
  }
  for name, predict in wrapped.items():
    assert _score(collected, name, predict)["score"] == pytest.approx(100.0), name


def test_constant_predictors_score_at_chance(collected):
  """Averaged over every constant choice the chance score is exact; free-form constants score 0."""
  for name in ("mmlu_direct", "mmlu_cot"):
    mean = sum(_score(collected, name, lambda e, c=c: c)["score"] for c in "ABCD") / 4
    assert mean == pytest.approx(25.0)
    assert _score(collected, name, lambda e: "A")["random"] == pytest.approx(25.0)
  for name in ("tydiqa", "mgsm"):
    summary = _score(collected, name, lambda e: "0")
    assert summary["score"] == pytest.approx(0.0) and summary["random"] == 0.0
  # BBH: the expected score of guessing uniformly among each question's options (or the task's labels)
  # equals the reported random score.
  examples, _ = collected["bbh_direct"]
  labels = collections.defaultdict(set)
  for e in examples:
    labels[e.subset].add(e.gold)
  expected_by_task = collections.defaultdict(list)
  for e in examples:
    if e.num_options and e.gold.startswith("("):
      choices = [f"({chr(ord('A') + i)})" for i in range(e.num_options)]
    elif e.num_options:
      choices = sorted(labels[e.subset])
    else:
      choices = ["no answer"]
    hits = [scoring.judge(e, scoring.extract(e, c))["accuracy"] for c in choices]
    expected_by_task[e.subset].append(100.0 * sum(hits) / len(hits))
  expected = sum(sum(v) / len(v) for v in expected_by_task.values()) / len(expected_by_task)
  summary = _score(collected, "bbh_direct", lambda e: "no answer")
  assert summary["random"] == pytest.approx(expected)
  assert summary["per_subset"]["boolean_expressions"]["chance"] == pytest.approx(50.0)
  assert summary["per_subset"]["multistep_arithmetic_two"]["chance"] == 0.0
  assert 25.0 < summary["random"] < 35.0


def test_self_consistency_majority_vote(collected):
  examples, _ = collected["mgsm"]
  right = {e.id: [f"The answer is {e.gold}.", "The answer is -1.", f"Es ist {e.gold}."] for e in examples}
  wrong = {e.id: [f"The answer is {e.gold}.", "The answer is -1.", "So -1."] for e in examples}
  assert runner.score_benchmark("mgsm", examples, right)[0]["score"] == 100.0
  assert runner.score_benchmark("mgsm", examples, wrong)[0]["score"] == 0.0


def test_tydiqa_score_excludes_english(collected):
  examples, _ = collected["tydiqa"]
  summary = _score(collected, "tydiqa", lambda e: e.gold if e.subset == "english" else "wrong")
  assert summary["subsets_in_score"] == ["swahili"]
  assert summary["score"] == 0.0 and summary["per_subset"]["english"]["exact_match"] == 100.0
  assert {"exact_match", "f1"} <= set(summary)
