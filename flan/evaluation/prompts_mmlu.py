"""MMLU prompts: 5-shot with the subject's dev exemplars, direct and chain-of-thought.

Direct follows the benchmark's own prompt format (Hendrycks et al. 2021): a header naming the subject, then
each question with options "A. ...", "B. ..." and "Answer: X", the test question ending in "Answer:".
Chain-of-thought uses the layout of the Flan-PaLM MMLU CoT prompts: "Q: ..." with the options on one line
as "(A) ... (B) ...", and "A: Let's think step by step." When a CoT prompt file (JSON {subject: prompt text},
e.g. mmlu-cot.json) is given, its exemplars are used verbatim; otherwise the five dev exemplars are written in
that layout with their answers only ("A: The answer is (B).") and the result records this fallback.
"""
from flan.evaluation import readers
from flan.evaluation.records import EvalExample

COT_TRIGGER = "Let's think step by step."
ANSWER_ONLY_FALLBACK = "answer-only fallback"


def subject_name(subject):
  return subject.replace("_", " ")


def header(subject):
  return f"The following are multiple choice questions (with answers) about {subject_name(subject)}.\n\n"


def direct_question(question, options):
  lines = [question] + [f"{letter}. {option}" for letter, option in zip(readers.MMLU_LETTERS, options)]
  return "\n".join(lines) + "\nAnswer:"


def cot_question(question, options):
  joined = " ".join(f"({letter}) {option}" for letter, option in zip(readers.MMLU_LETTERS, options))
  return f"Q: {question}\n{joined}\nA:"


def direct_prompt(subject, dev_rows, question, options):
  shots = "".join(f"{direct_question(q, o)} {a}\n\n" for q, o, a in dev_rows)
  return header(subject) + shots + direct_question(question, options)


def cot_prompt(subject, dev_rows, question, options, cot_prefix=None):
  if cot_prefix is None:
    cot_prefix = header(subject) + "".join(
        f"{cot_question(q, o)} The answer is ({a}).\n\n" for q, o, a in dev_rows)
  else:
    cot_prefix = cot_prefix.rstrip() + "\n\n"
  return f"{cot_prefix}{cot_question(question, options)} {COT_TRIGGER}"


def build(mmlu_dir, *, cot=False, cot_prompts_path=None, num_shots=5, split="test"):
  """EvalExamples of every question of the split ("test" or "val"); (examples, prompt source).

  The prompt source is the CoT prompt file's path, "answer-only fallback" (CoT without a prompt file) or
  "dev split" (direct: the subject's first num_shots dev questions).
  """
  subjects = readers.read_mmlu(mmlu_dir, split)
  cot_prompts, source = None, "dev split"
  if cot:
    path = readers.find_mmlu_cot_prompts(mmlu_dir, cot_prompts_path)
    if path is None:
      source = ANSWER_ONLY_FALLBACK
    else:
      cot_prompts = readers.read_mmlu_cot_prompts(path)
      missing = sorted(set(subjects) - set(cot_prompts))
      if missing:
        raise readers.EvalDataError(f"{path}: no CoT prompt for MMLU subject(s) {missing}")
      source = str(path)
  benchmark = "mmlu_cot" if cot else "mmlu_direct"
  examples = []
  for subject, splits in subjects.items():
    dev_rows = splits["dev"][:num_shots]
    if len(dev_rows) < num_shots:
      raise readers.EvalDataError(f"MMLU subject {subject!r}: {len(dev_rows)} dev exemplars, need {num_shots}")
    for index, (question, options, answer) in enumerate(splits[split]):
      if cot:
        prompt = cot_prompt(subject, dev_rows, question, options,
                            cot_prompts[subject] if cot_prompts else None)
      else:
        prompt = direct_prompt(subject, dev_rows, question, options)
      # Validation ids differ from test ids so predictions of one split never score the other.
      local_id = f"{index}" if split == "test" else f"{split}-{index}"
      examples.append(EvalExample(id=f"{benchmark}/{subject}/{local_id}", benchmark=benchmark, subset=subject,
                                  prompt=prompt, gold=answer, num_options=4, chance=0.25))
  return examples, source
