"""Readers for the benchmarks' standard file layouts (see ../shared/data/README.md).

Every reader raises EvalDataError naming the file (and line or key) when the data is not in the expected
layout, and returns plain Python structures, sorted by subset name for a deterministic prompt order.
"""
import ast
import csv
import json
import pathlib

from flan.errors import InputError

MMLU_LETTERS = ("A", "B", "C", "D")
MGSM_EXEMPLAR_FILES = ("mgsm_exemplars.json", "exemplars.py")
MMLU_COT_PROMPT_FILES = ("mmlu-cot.json", "mmlu_cot_prompts.json")


class EvalDataError(InputError):
  """Benchmark data missing or not in the benchmark's standard layout."""


def _require_dir(path, what):
  path = pathlib.Path(path)
  if not path.is_dir():
    raise EvalDataError(f"{what} directory {path} does not exist")
  return path


def _read_json(path):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise EvalDataError(f"{path}: not valid JSON ({e})") from e


# ----------------------------------------------------------------------------------------------- MMLU

def _mmlu_split_dir(mmlu_dir, split):
  for candidate in (mmlu_dir / "data" / split, mmlu_dir / split):
    if candidate.is_dir():
      return candidate
  raise EvalDataError(
      f"MMLU directory {mmlu_dir} has neither data/{split}/ nor {split}/ (expected the original release "
      f"layout data/{{dev,val,test}}/<subject>_{{dev,val,test}}.csv; --mmlu_split=validation reads val/)")


def read_mmlu_csv(path):
  """Rows (question, (A, B, C, D), answer letter) of one MMLU csv; accepts a header and 0-3 answers."""
  rows = []
  with open(path, encoding="utf-8", newline="") as f:
    for line_number, fields in enumerate(csv.reader(f), start=1):
      if not fields:
        continue
      if len(fields) != 6:
        raise EvalDataError(
            f"{path}:{line_number}: expected 6 columns (question,A,B,C,D,answer), got {len(fields)}")
      if line_number == 1 and fields[5].strip().lower() == "answer":
        continue
      answer = fields[5].strip()
      if answer in ("0", "1", "2", "3"):
        answer = MMLU_LETTERS[int(answer)]
      if answer not in MMLU_LETTERS:
        raise EvalDataError(f"{path}:{line_number}: answer {fields[5]!r} is not one of A, B, C, D")
      rows.append((fields[0], tuple(fields[1:5]), answer))
  return rows


def read_mmlu(mmlu_dir, split="test"):
  """{subject: {"dev": rows, split: rows}} for every subject with a file of the split ("test" or "val")."""
  mmlu_dir = _require_dir(mmlu_dir, "MMLU")
  dev_dir, eval_dir = _mmlu_split_dir(mmlu_dir, "dev"), _mmlu_split_dir(mmlu_dir, split)
  subjects = {}
  for eval_file in sorted(eval_dir.glob(f"*_{split}.csv")):
    subject = eval_file.name[:-len(f"_{split}.csv")]
    dev_file = dev_dir / f"{subject}_dev.csv"
    if not dev_file.is_file():
      raise EvalDataError(f"MMLU subject {subject!r} has {eval_file} but no dev exemplars file {dev_file}")
    subjects[subject] = {"dev": read_mmlu_csv(dev_file), split: read_mmlu_csv(eval_file)}
  if not subjects:
    raise EvalDataError(f"no <subject>_{split}.csv files under {eval_dir}")
  return subjects


def find_mmlu_cot_prompts(mmlu_dir, explicit_path=None):
  """Path of a CoT prompt file (JSON {subject: prompt text}) if given or present in mmlu_dir, else None."""
  if explicit_path:
    path = pathlib.Path(explicit_path)
    if not path.is_file():
      raise EvalDataError(f"MMLU CoT prompt file {path} does not exist")
    return path
  for name in MMLU_COT_PROMPT_FILES:
    if (pathlib.Path(mmlu_dir) / name).is_file():
      return pathlib.Path(mmlu_dir) / name
  return None


def read_mmlu_cot_prompts(path):
  prompts = _read_json(path)
  if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
    raise EvalDataError(f"{path}: expected a JSON object mapping each MMLU subject to its CoT prompt text")
  return prompts


# ------------------------------------------------------------------------------------------------ BBH

def read_bbh(bbh_dir):
  """{task: {"examples": [(input, target)], "cot_prompt": text}} from bbh/<task>.json + cot-prompts/<task>.txt."""
  bbh_dir = _require_dir(bbh_dir, "BBH")
  task_dir = bbh_dir / "bbh" if (bbh_dir / "bbh").is_dir() else bbh_dir
  prompt_dir = bbh_dir / "cot-prompts"
  if not prompt_dir.is_dir():
    raise EvalDataError(f"BBH directory {bbh_dir} has no cot-prompts/ folder (the 3-shot prompt files)")
  tasks = {}
  for task_file in sorted(task_dir.glob("*.json")):
    task = task_file.stem
    data = _read_json(task_file)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
      raise EvalDataError(f"{task_file}: expected {{\"examples\": [{{\"input\", \"target\"}}, ...]}}")
    examples = []
    for i, example in enumerate(data["examples"]):
      if not isinstance(example, dict) or "input" not in example or "target" not in example:
        raise EvalDataError(f"{task_file}: examples[{i}] lacks the key 'input' or 'target'")
      examples.append((str(example["input"]), str(example["target"])))
    prompt_file = prompt_dir / f"{task}.txt"
    if not prompt_file.is_file():
      raise EvalDataError(f"BBH task {task!r} has no prompt file {prompt_file}")
    tasks[task] = {"examples": examples, "cot_prompt": prompt_file.read_text(encoding="utf-8"),
                   "cot_prompt_path": str(prompt_file)}
  if not tasks:
    raise EvalDataError(f"no BBH task files (*.json) under {task_dir}")
  return tasks


# --------------------------------------------------------------------------------------------- TyDiQA

def _tydiqa_language(question_id, path):
  language = question_id.split("-", 1)[0]
  if not language.isalpha():
    raise EvalDataError(f"{path}: question id {question_id!r} does not start with its language name")
  return language


def read_tydiqa_file(path):
  """[(language, id, context, question, answers)] from one SQuAD-layout TyDiQA GoldP file."""
  data = _read_json(path)
  if not isinstance(data, dict) or not isinstance(data.get("data"), list):
    raise EvalDataError(f"{path}: expected the SQuAD layout {{\"data\": [{{\"paragraphs\": [...]}}]}}")
  rows = []
  for a, article in enumerate(data["data"]):
    for p, paragraph in enumerate(article.get("paragraphs", [])):
      if "context" not in paragraph or "qas" not in paragraph:
        raise EvalDataError(f"{path}: data[{a}].paragraphs[{p}] lacks 'context' or 'qas'")
      for q, qa in enumerate(paragraph["qas"]):
        missing = [k for k in ("id", "question", "answers") if k not in qa]
        if missing or not qa["answers"]:
          raise EvalDataError(f"{path}: data[{a}].paragraphs[{p}].qas[{q}] lacks {missing or 'answers'}")
        answers = tuple(answer["text"] for answer in qa["answers"])
        rows.append((_tydiqa_language(qa["id"], path), qa["id"], paragraph["context"], qa["question"],
                     answers))
  return rows


def read_tydiqa(tydiqa_dir):
  """{language: [(id, context, question, answers)]} from per-language files or the merged dev file."""
  tydiqa_dir = _require_dir(tydiqa_dir, "TyDiQA")
  files = sorted(p for p in tydiqa_dir.glob("*.json") if "train" not in p.name)
  if not files:
    raise EvalDataError(f"no TyDiQA GoldP dev files (*.json, SQuAD layout) in {tydiqa_dir}")
  languages, seen = {}, {}
  for path in files:
    for language, qid, context, question, answers in read_tydiqa_file(path):
      if qid in seen:
        raise EvalDataError(f"{path}: question id {qid!r} also appears in {seen[qid]} (merged and "
                            "per-language files in one folder? keep one of them)")
      seen[qid] = path
      languages.setdefault(language, []).append((qid, context, question, answers))
  return dict(sorted(languages.items()))


# ----------------------------------------------------------------------------------------------- MGSM

def read_mgsm_tsv(path):
  rows = []
  with open(path, encoding="utf-8") as f:
    for line_number, line in enumerate(f, start=1):
      line = line.rstrip("\n")
      if not line.strip():
        continue
      fields = line.split("\t")
      if len(fields) != 2:
        raise EvalDataError(f"{path}:{line_number}: expected 'question<TAB>answer', got {len(fields)} fields")
      rows.append((fields[0], fields[1].strip()))
  return rows


def _literal_assignments(path):
  """Top-level NAME = <literal> assignments of a data-only Python file, read without executing it."""
  tree = ast.parse(pathlib.Path(path).read_text(encoding="utf-8"), filename=str(path))
  values = {}
  for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
      try:
        values[node.targets[0].id] = ast.literal_eval(node.value)
      except ValueError as e:
        raise EvalDataError(f"{path}:{node.lineno}: {node.targets[0].id} is not a literal ({e})") from e
  return values


def read_mgsm_exemplars(path):
  """{language: [(question, answer)] * 8} from mgsm_exemplars.json or upstream exemplars.py."""
  path = pathlib.Path(path)
  data = _literal_assignments(path) if path.suffix == ".py" else _read_json(path)
  exemplars = data.get("MGSM_EXEMPLARS") if isinstance(data, dict) else None
  if not isinstance(exemplars, dict):
    raise EvalDataError(f"{path}: no MGSM_EXEMPLARS mapping (language -> {{'1': {{'q', 'a'}}, ...}})")
  result = {}
  for language, shots in exemplars.items():
    try:
      result[language] = [(shots[k]["q"], shots[k]["a"]) for k in sorted(shots, key=int)]
    except (KeyError, TypeError, ValueError) as e:
      raise EvalDataError(f"{path}: MGSM_EXEMPLARS[{language!r}] is not {{'1': {{'q', 'a'}}, ...}} ({e})") from e
  return result


def find_mgsm_exemplars(mgsm_dir, exemplars_path=None):
  """The exemplars file: the one given, else mgsm_exemplars.json or exemplars.py in mgsm_dir."""
  if exemplars_path is not None:
    return pathlib.Path(exemplars_path)
  found = [pathlib.Path(mgsm_dir) / name for name in MGSM_EXEMPLAR_FILES if (pathlib.Path(mgsm_dir) / name).is_file()]
  if not found:
    raise EvalDataError(f"MGSM directory {mgsm_dir} has no exemplars file ({' or '.join(MGSM_EXEMPLAR_FILES)}); "
                        "the 8-shot native CoT exemplars come from google-research/url-nlp mgsm/exemplars.py")
  return found[0]


def read_mgsm(mgsm_dir, exemplars_path=None):
  """({language: [(question, answer)]}, {language: exemplars}) from mgsm_<lang>.tsv + the exemplars file."""
  mgsm_dir = _require_dir(mgsm_dir, "MGSM")
  languages = {p.stem[len("mgsm_"):]: read_mgsm_tsv(p) for p in sorted(mgsm_dir.glob("mgsm_*.tsv"))}
  if not languages:
    raise EvalDataError(f"no mgsm_<lang>.tsv files in {mgsm_dir}")
  exemplars_path = find_mgsm_exemplars(mgsm_dir, exemplars_path)
  exemplars = read_mgsm_exemplars(exemplars_path)
  missing = sorted(set(languages) - set(exemplars))
  if missing:
    raise EvalDataError(f"{exemplars_path}: no exemplars for MGSM language(s) {missing}")
  return languages, {language: exemplars[language] for language in languages}
