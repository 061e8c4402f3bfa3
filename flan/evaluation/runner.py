"""Run benchmarks end to end: build prompts, get predictions (a predictor or a file), score, summarize."""
import sys

import tqdm

from flan import jsonl
from flan.errors import ConfigError
from flan.errors import InputError
from flan.evaluation import benchmarks
from flan.evaluation import metrics
from flan.evaluation import scoring
from flan.evaluation import setups

RANDOM_SCORE_SOURCE = (
    "chance computed from the data: MMLU 1/4 per question (25); BBH per task the mean of 1/options for "
    "multiple-choice questions, 1/labels for closed label sets (yes/no, True/False, valid/invalid) and 0 for "
    "free-form answers, averaged over tasks like the BBH score; TyDiQA 0 (free-form span); MGSM 0 (free-form "
    "number)")


def collect_examples(names, dirs, max_per_subset=None, setup=None):
  """{benchmark: (examples, prompt source)}; max_per_subset keeps the first N prompts of every subset."""
  collected = {}
  for name in names:
    examples, source = benchmarks.build_examples(name, dirs, setup)
    if max_per_subset:
      kept, seen = [], {}
      for example in examples:
        seen[example.subset] = seen.get(example.subset, 0) + 1
        if seen[example.subset] <= max_per_subset:
          kept.append(example)
      examples = kept
    collected[name] = (examples, source)
  return collected


def export_prompts(collected, out_dir):
  """Writes <out_dir>/<benchmark>.jsonl with id, benchmark, subset, prompt, gold per line; returns paths."""
  import pathlib  # pylint: disable=import-outside-toplevel
  paths = []
  for name, (examples, _) in collected.items():
    path = pathlib.Path(out_dir) / f"{name}.jsonl"
    jsonl.write_jsonl(path, (example.to_json() for example in examples))
    paths.append(path)
  return paths


def read_predictions(paths):
  """{id: prediction or [sampled predictions]} from JSONL lines {"id", "prediction"} or {"id", "predictions"}.

  paths: one file, or several as a list or a comma-separated string (e.g. one flan-infer output per benchmark).
  """
  if isinstance(paths, str):
    paths = [p for p in paths.split(",") if p]
  elif not isinstance(paths, (list, tuple)):
    paths = [paths]
  predictions = {}
  for path in paths:
    _read_prediction_file(path, predictions)
  return predictions


def _read_prediction_file(path, predictions):
  for line_number, record in jsonl.read_jsonl(path):
    if "id" not in record:
      raise InputError(f"{path}:{line_number}: expected {{\"id\": ..., \"prediction\": ...}}")
    if "prediction" in record:
      value = record["prediction"]
    elif "predictions" in record:
      value = record["predictions"]
    else:
      raise InputError(f"{path}:{line_number}: record {record['id']!r} has no 'prediction' (or 'predictions')")
    if isinstance(value, list):
      if not value or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}:{line_number}: 'predictions' must be a non-empty list of strings")
    elif not isinstance(value, str):
      raise InputError(f"{path}:{line_number}: 'prediction' must be a string")
    if record["id"] in predictions:
      raise InputError(f"{path}:{line_number}: duplicate id {record['id']!r}")
    predictions[record["id"]] = value


def score_benchmark(name, examples, predictions_by_id, setup=None):
  """Summary of one benchmark plus the per-example records (id, extracted answer, metrics).

  The setup (default: the paper's) says which subsets (MGSM, TyDiQA languages) are averaged into the score.
  """
  missing = [e.id for e in examples if e.id not in predictions_by_id]
  if missing:
    raise InputError(f"{len(missing)} of {len(examples)} {name} prompts have no prediction "
                     f"(first: {missing[:3]})")
  setup = setup or setups.EvalSetup()
  per_example, records = [], []
  for example in examples:
    answer, example_metrics = scoring.score_predictions(example, predictions_by_id[example.id])
    per_example.append(example_metrics)
    records.append({"id": example.id, "answer": answer, "gold": example.gold, **example_metrics})
  present = sorted({e.subset for e in examples})
  scored, _ = setup.scored_subsets(name, present)
  return scoring.aggregate(name, examples, per_example, scored), records


def summarize(summaries, random_overrides=None, num_samples=1, setup_records=None, warnings=()):
  """The results dictionary: per-benchmark summaries with normalized scores and the normalized average,
  the setup of each benchmark (split, shots, languages, decoding, prompt source) and the ways it differs
  from the paper's setup ("warnings")."""
  random_overrides = dict(random_overrides or {})
  unknown = sorted(set(random_overrides) - set(benchmarks.BENCHMARKS))
  if unknown:
    raise ConfigError(f"random score given for unknown benchmark(s) {unknown}")
  results = {"benchmarks": {}, "table_order": [b for b in benchmarks.BENCHMARKS if b in summaries],
             "random_score_source": RANDOM_SCORE_SOURCE, "self_consistency_samples": num_samples,
             "setup": {}, "warnings": list(warnings)}
  raw, random = {}, {}
  for name in results["table_order"]:
    summary = dict(summaries[name])
    if name in random_overrides:
      summary["random"] = float(random_overrides[name])
      summary["random_overridden"] = True
    summary["normalized"] = metrics.normalized_score(summary["score"], summary["random"])
    results["benchmarks"][name] = summary
    if setup_records and name in setup_records:
      results["setup"][name] = setup_records[name]
    raw[name], random[name] = summary["score"], summary["random"]
  results["normalized_average"] = metrics.normalized_average(raw, random)
  results["normalized_average_over"] = list(raw)
  results["complete"] = len(raw) == len(benchmarks.BENCHMARKS)
  return results


def _log(message):
  print(message, file=sys.stderr, flush=True)


def predict_all(name, examples, predictor, *, num_samples=1, chunk_size=64):
  """{id: prediction or [samples]} with a progress bar on stderr. predictor(prompts, benchmark, sample_index)."""
  sampled = num_samples > 1 and name in benchmarks.CHAIN_OF_THOUGHT
  rounds = list(range(num_samples)) if sampled else [None]
  outputs = {e.id: [] for e in examples}
  with tqdm.tqdm(total=len(examples) * len(rounds), desc=name, unit="prompt", file=sys.stderr,
                 dynamic_ncols=True) as progress:
    for sample_index in rounds:
      for begin in range(0, len(examples), chunk_size):
        chunk = examples[begin:begin + chunk_size]
        texts = predictor([e.prompt for e in chunk], name, sample_index)
        if len(texts) != len(chunk):
          raise RuntimeError(f"predictor returned {len(texts)} outputs for {len(chunk)} prompts of {name}")
        for example, text in zip(chunk, texts):
          outputs[example.id].append(text)
        progress.update(len(chunk))
  return {k: (v if sampled else v[0]) for k, v in outputs.items()}


def unmatched_prediction_ids(predictions, collected):
  """Ids of a predictions file that no prompt of the selected benchmarks has, in file order."""
  known = {e.id for examples, _ in collected.values() for e in examples}
  return [i for i in predictions if i not in known]


def run(names, dirs, *, predictor=None, predictions_path=None, num_samples=1, max_per_subset=None,
        random_overrides=None, chunk_size=64, setup=None, decoding=None):
  """Evaluate with a predictor or a predictions file; returns (results, {benchmark: per-example records}).

  setup: an EvalSetup (default: the paper's). decoding: what results.json records as the decoding (by
  default "predictions file <path>" or "predictor").
  """
  if (predictor is None) == (predictions_path is None):
    raise ConfigError("give exactly one of a predictor (--checkpoint) or a predictions file (--predictions)")
  setup = setup or setups.EvalSetup()
  if decoding is None:
    decoding = {"source": f"predictions file {predictions_path}"} if predictions_path else {"source": "predictor"}
  collected = collect_examples(names, dirs, max_per_subset, setup)
  file_predictions = read_predictions(predictions_path) if predictions_path else None
  warnings = []
  if file_predictions is not None:
    unmatched = unmatched_prediction_ids(file_predictions, collected)
    if unmatched:
      message = (f"{len(unmatched)} prediction id(s) in {predictions_path} match no prompt of "
                 f"{list(names)} (first: {unmatched[:5]})")
      _log(f"warning: {message}")
      warnings.append(message)
  summaries, setup_records, records = {}, {}, {}
  for name, (examples, source) in collected.items():
    if file_predictions is not None:
      if not any(e.id in file_predictions for e in examples):
        _log(f"[{name}] no predictions in {predictions_path}; skipped")
        continue
      predictions = file_predictions
    else:
      predictions = predict_all(name, examples, predictor, num_samples=num_samples, chunk_size=chunk_size)
    summaries[name], records[name] = score_benchmark(name, examples, predictions, setup)
    setup_records[name] = setup.record(name, subsets_present=sorted({e.subset for e in examples}),
                                       prompt_source=source, decoding=decoding)
    for warning in setup.warnings(name, setup_records[name]):
      _log(f"warning: {warning}")
      warnings.append(warning)
    _log(f"[{name}] score {summaries[name]['score']:.2f} over {len(examples)} prompts")
  if not summaries:
    raise InputError(f"no benchmark could be scored (selected: {list(names)})")
  return summarize(summaries, random_overrides, num_samples, setup_records, warnings), records
