"""TyDi QA GoldP prompts: 1-shot, the answer a span of the passage, scored by exact match and F1.

The exemplar comes from the same language: example i is shown with example i+1 (the last with the first),
so every dev question is evaluated and none is its own exemplar. The wording is ours.
"""
from flan.evaluation import readers
from flan.evaluation.records import EvalExample

INSTRUCTION = "Answer the question with a short span copied from the passage."
EXEMPLAR_SOURCE = "1-shot: the next dev question of the same language (our wording)"


def shot(context, question, answer=None):
  text = f"Passage: {context.strip()}\nQuestion: {question.strip()}\nAnswer:"
  return text if answer is None else f"{text} {answer}"


def build_prompt(exemplar, context, question):
  _, ex_context, ex_question, ex_answers = exemplar
  return "\n\n".join([INSTRUCTION, shot(ex_context, ex_question, ex_answers[0]), shot(context, question)])


def build(tydiqa_dir):
  languages = readers.read_tydiqa(tydiqa_dir)
  examples = []
  for language, rows in languages.items():
    if len(rows) < 2:
      raise readers.EvalDataError(f"TyDiQA language {language!r} has {len(rows)} question(s); the 1-shot "
                                  "prompt takes its exemplar from another question of the same language")
    for index, (qid, context, question, answers) in enumerate(rows):
      exemplar = rows[(index + 1) % len(rows)]
      examples.append(EvalExample(
          id=f"tydiqa/{language}/{qid}", benchmark="tydiqa", subset=language,
          prompt=build_prompt(exemplar, context, question), gold=answers[0], gold_aliases=answers))
  return examples, None
