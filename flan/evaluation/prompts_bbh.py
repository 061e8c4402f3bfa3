"""BIG-Bench Hard prompts: 3-shot from the task's cot-prompts file, direct and chain-of-thought.

A cot-prompts file is: canary line, "-----", the task description, then three exemplars
"Q: <input>\\nA: Let's think step by step. <rationale> So the answer is <answer>." separated by blank lines.
Direct prompts keep the description and questions and answer each exemplar with only its final answer
(what follows "So the answer is"), as the BBH answer-only prompts do.
"""
import re

from flan.evaluation import answers
from flan.evaluation import readers
from flan.evaluation.records import EvalExample

COT_TRIGGER = "Let's think step by step."
BBH_ANSWER_PHRASES = ("so the answer is", "the answer is")
# A task whose targets take at most this many distinct values (and lists no options) has a closed label set
# (yes/no, True/False, valid/invalid); chance is 1/labels. Larger target sets are free-form (chance 0).
MAX_CLOSED_LABELS = 3
_OPTION_LINE = re.compile(r"^\([A-Z]\) ", re.MULTILINE)


def parse_cot_prompt(text, path="cot prompt"):
  """(description, [(question, chain-of-thought answer)]) of one cot-prompts file."""
  if "-----" in text:
    text = text.split("-----", 1)[1]
  blocks = re.split(r"\n\s*\nQ: ", "\n\n" + text.strip())
  description = blocks[0].strip()
  exemplars = []
  for block in blocks[1:]:
    question, separator, answer = block.partition("\nA: ")
    if not separator:
      raise readers.EvalDataError(f"{path}: exemplar {question[:60]!r} has no '\\nA: ' answer line")
    exemplars.append((question.strip(), answer.strip()))
  if not exemplars:
    raise readers.EvalDataError(f"{path}: no 'Q: ... A: ...' exemplars found")
  return description, exemplars


def direct_answer(cot_answer, path="cot prompt"):
  tail = answers.text_after_answer_phrase(cot_answer, BBH_ANSWER_PHRASES)
  if tail is None:
    raise readers.EvalDataError(f"{path}: exemplar answer {cot_answer[-80:]!r} has no 'So the answer is'")
  return answers.extract_final_answer(cot_answer, BBH_ANSWER_PHRASES)


def build_prompt(description, exemplars, question, cot):
  parts = [description] if description else []
  parts += [f"Q: {q}\nA: {a}" for q, a in exemplars]
  parts.append(f"Q: {question}\nA: {COT_TRIGGER}" if cot else f"Q: {question}\nA:")
  return "\n\n".join(parts)


def task_chance(examples):
  """Per-example chance: 1/options for multiple choice; 1/labels for closed label sets; else 0."""
  labels = {target for _, target in examples}
  chances = []
  for question, _ in examples:
    num_options = len(_OPTION_LINE.findall(question))
    if num_options:
      chances.append((num_options, 1.0 / num_options))
    elif len(labels) <= MAX_CLOSED_LABELS:
      chances.append((len(labels), 1.0 / len(labels)))
    else:
      chances.append((0, 0.0))
  return chances


def build(bbh_dir, *, cot=False):
  tasks = readers.read_bbh(bbh_dir)
  benchmark = "bbh_cot" if cot else "bbh_direct"
  examples = []
  for task, data in tasks.items():
    description, exemplars = parse_cot_prompt(data["cot_prompt"], data["cot_prompt_path"])
    if not cot:
      exemplars = [(q, direct_answer(a, data["cot_prompt_path"])) for q, a in exemplars]
    for index, ((question, target), (num_options, chance)) in enumerate(
        zip(data["examples"], task_chance(data["examples"]))):
      examples.append(EvalExample(
          id=f"{benchmark}/{task}/{index}", benchmark=benchmark, subset=task,
          prompt=build_prompt(description, exemplars, question, cot), gold=target,
          num_options=num_options, chance=chance, answer_phrases=BBH_ANSWER_PHRASES))
  return examples, None
