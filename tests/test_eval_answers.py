"""Answer extraction and metrics of flan.evaluation (no data files, no model)."""
import pytest

from flan.evaluation import answers
from flan.evaluation import metrics


@pytest.mark.parametrize("text, expected", [
    ("Step one. So the answer is (D).", "(D)"),
    ("Roger had 5. The answer is 11.", "11"),
    ("The final answer is True!", "True"),
    ("... the correct answer is valid .", "valid"),
    ("Answer: no", "no"),
    ("so the answer is 12/14/1937. Extra text after.", "12/14/1937"),
    ("The answer is 3.5.", "3.5"),
    ("The answer is (A). But then, the answer is (C).", "(C)"),
    ("(B)", "(B)"),  # no phrase: the text itself
    ('So the answer is "yes".', "yes"),
])
def test_extract_final_answer(text, expected):
  assert answers.extract_final_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("(A)", "A"), ("(C) 12/25/1937", "C"), ("B", "B"), ("D.", "D"), ("A) Paris", "A"),
    ("the answer is (B).", "B"), ("Because it is", None), ("", None),
])
def test_extract_option_letter(text, expected):
  assert answers.extract_option_letter(text) == expected


def test_option_letter_restricted_to_given_letters():
  assert answers.extract_option_letter("(F)", "ABCD") is None
  assert answers.extract_option_letter("E. none", "ABCD") is None


@pytest.mark.parametrize("token, value", [
    ("1,234", 1234.0), ("1,234,567", 1234567.0), ("3.5", 3.5), ("0.25", 0.25), ("80.000", 80000.0),
    ("1.234,5", 1234.5), ("1,234.56", 1234.56), ("-7", -7.0), ("−2", -2.0), ("2,5", 2.5), ("12.50", 12.5),
])
def test_parse_number(token, value):
  assert answers.parse_number(token) == pytest.approx(value)


@pytest.mark.parametrize("text, expected", [
    ("5 + 6 = 11. The answer is 11.", 11.0),
    ("She earns $1,234.50 a week, so the answer is $1,234.50.", 1234.5),
    ("The answer is 18 dollars, not 20.", 18.0),
    ("No phrase here, 3 apples then 42.", 42.0),  # fallback: the last number
    ("nothing numeric", None),
])
def test_extract_number(text, expected):
  assert answers.extract_number(text) == expected


def test_extract_number_with_native_phrases():
  phrases = ("Die Antwort ist", "Die Antwort lautet")
  assert answers.extract_number("Er hat 5 + 2 = 7. Die Antwort lautet 70.000.", phrases) == 70000.0
  assert answers.extract_number("5 + 6 = 11。答案是 11。后来 3 个", ("答案是",)) == 11.0


def test_squad_normalization_exact_match_and_f1():
  assert metrics.normalize_answer("The  Cat, sat!") == "cat sat"
  assert metrics.exact_match("the cat sat.", ["A cat sat", "dog"]) == 1.0
  assert metrics.exact_match("cat", ["cat sat"]) == 0.0
  # prediction "cat sat on" vs gold "cat sat": overlap 2, precision 2/3, recall 1 -> F1 0.8
  assert metrics.f1_score("cat sat on", ["cat sat"]) == pytest.approx(0.8)
  assert metrics.f1_score("dog", ["cat sat", "dog house"]) == pytest.approx(2 * 1 * 0.5 / 1.5)
  assert metrics.f1_score("", ["x"]) == 0.0


def test_normalized_average():
  raw = {"mmlu_direct": 50.0, "tydiqa": 40.0}
  random = {"mmlu_direct": 25.0, "tydiqa": 0.0}
  # (100 * 25 / 75 + 40) / 2
  assert metrics.normalized_average(raw, random) == pytest.approx((100 / 3 + 40) / 2)
  assert metrics.normalized_score(25.0, 25.0) == 0.0
  with pytest.raises(ValueError, match="mgsm"):
    metrics.normalized_average({"mgsm": 1.0}, {})


def test_majority_vote():
  assert metrics.majority_vote(["B", "A", "B", None, None, None]) == "B"
  assert metrics.majority_vote(["A", "B", "B", "A"]) == "A"  # tie: first seen
  assert metrics.majority_vote([None, None]) is None
  assert metrics.accuracy([True, False, True, True]) == 75.0
