"""MGSM prompts: 8-shot chain-of-thought with the native exemplars of each language (Shi et al. 2022).

An exemplar is "<Question prefix> q" and "<Step-by-Step Answer prefix> ... <The answer is> N." in the
language itself. The test prompt ends with the localized answer prefix. The phrases that introduce the
final number ("The answer is", "Die Antwort ist", "Die Antwort lautet", "答案是", ...) are read from the
exemplars, so every language of the exemplars file is handled without a table.
"""
import re

from flan.evaluation import answers
from flan.evaluation import readers
from flan.evaluation.records import EvalExample

# Ends of the text before the answer phrase: sentence ends in several scripts, a digit (Thai writes no
# full stop), a colon.
_PHRASE_START = re.compile(r"[.。．!?！？\u0964:：\d\n]")


def prefix_of(text, path, what):
  """The localized prefix ("Frage: ", "问题：") of an exemplar question or answer, with its spacing."""
  match = re.match(r"^[^:：\n]{1,40}[:：]\s*", text)
  if not match:
    raise readers.EvalDataError(f"{path}: MGSM exemplar {what} {text[:40]!r} has no localized prefix ending in ':'")
  return match.group(0)


def answer_phrase(answer_text, number):
  """The words right before the exemplar's final number, e.g. "The answer is" or "答案是"."""
  number_text = str(number)
  end = answer_text.rfind(number_text)
  if end < 0:
    return None
  before = answer_text[:end].rstrip()
  starts = [m.end() for m in _PHRASE_START.finditer(before)]
  phrase = before[starts[-1] if starts else 0:].strip()
  return phrase or None


def answer_phrases(exemplars, numbers):
  phrases = []
  for (_, answer_text), number in zip(exemplars, numbers):
    phrase = answer_phrase(answer_text, number)
    if phrase and phrase not in phrases:
      phrases.append(phrase)
  for phrase in answers.ANSWER_PHRASES:  # English as a fallback: models often answer in English.
    if phrase not in phrases:
      phrases.append(phrase)
  return tuple(phrases)


def final_number_of(answer_text):
  numbers = answers.find_numbers(answer_text)
  return int(numbers[-1]) if numbers else None


def build_prompt(exemplars, question_prefix, answer_prefix, question):
  shots = [f"{q.strip()}\n{a.strip()}" for q, a in exemplars]
  return "\n\n".join(shots + [f"{question_prefix}{question.strip()}\n{answer_prefix.strip()}"])


def build(mgsm_dir, *, exemplars_path=None, num_shots=8):
  """EvalExamples of every language file; (examples, path of the exemplars file)."""
  languages, exemplars_by_language = readers.read_mgsm(mgsm_dir, exemplars_path)
  examples = []
  for language, rows in languages.items():
    exemplars = exemplars_by_language[language][:num_shots]
    if len(exemplars) < num_shots:
      raise readers.EvalDataError(f"MGSM language {language!r}: {len(exemplars)} exemplars, need {num_shots}")
    source = readers.find_mgsm_exemplars(mgsm_dir, exemplars_path)
    question_prefix = prefix_of(exemplars[0][0], source, "question")
    answer_prefix = prefix_of(exemplars[0][1], source, "answer")
    phrases = answer_phrases(exemplars, [final_number_of(a) for _, a in exemplars])
    for index, (question, gold) in enumerate(rows):
      try:
        answers.parse_number(gold)
      except ValueError as e:
        raise readers.EvalDataError(f"{mgsm_dir}/mgsm_{language}.tsv:{index + 1}: answer {gold!r} is not a number") from e
      examples.append(EvalExample(
          id=f"mgsm/{language}/{index}", benchmark="mgsm", subset=language,
          prompt=build_prompt(exemplars, question_prefix, answer_prefix, question), gold=gold,
          answer_phrases=phrases))
  return examples, str(readers.find_mgsm_exemplars(mgsm_dir, exemplars_path))
