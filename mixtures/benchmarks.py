"""The paper's held-out benchmarks as seqio tasks, usable as evaluation mixtures during training.

Tasks "flan_eval_<benchmark>" (mmlu_direct, mmlu_cot, bbh_direct, bbh_cot, tydiqa, mgsm), split
"validation", hold exactly the prompts of flan-eval (flan.evaluation builds them) and score with its
answer extraction and metrics. Mixtures: "flan_eval_paper" (all six), "flan_eval_direct" and "flan_eval_cot".

The benchmark files are read when a dataset is first requested, from the folders set with gin
(`flan.mixtures.benchmarks.benchmark_data.data_dir = "/data/flan_eval"`, or per benchmark `mmlu_dir`,
`bbh_dir`, `tydiqa_dir`, `mgsm_dir`) or the FLAN_EVAL_DATA_DIR variable (a folder holding mmlu/, bbh/,
tydiqa/, mgsm/). max_per_subset keeps the first N prompts of every subject / task / language (quick evals).
"""
import functools
import os

import gin
import seqio
import tensorflow as tf

from flan.data import vocab
from flan.evaluation import benchmarks as benchmarks_lib
from flan.evaluation import runner

TASK_PREFIX = "flan_eval_"
SPLIT = "validation"
MIXTURES = {
    "flan_eval_paper": benchmarks_lib.BENCHMARKS,
    "flan_eval_direct": ("mmlu_direct", "bbh_direct", "tydiqa"),
    "flan_eval_cot": ("mmlu_cot", "bbh_cot", "mgsm"),
}


@gin.configurable
def benchmark_data(data_dir=None, mmlu_dir=None, bbh_dir=None, tydiqa_dir=None, mgsm_dir=None,
                   mmlu_cot_prompts=None, mgsm_exemplars=None, max_per_subset=None):
  """(DataDirs, max_per_subset) from gin, falling back to $FLAN_EVAL_DATA_DIR."""
  data_dir = data_dir or os.environ.get("FLAN_EVAL_DATA_DIR")
  dirs = benchmarks_lib.DataDirs(data_dir=data_dir, mmlu_dir=mmlu_dir, bbh_dir=bbh_dir, tydiqa_dir=tydiqa_dir,
                                 mgsm_dir=mgsm_dir, mmlu_cot_prompts=mmlu_cot_prompts,
                                 mgsm_exemplars=mgsm_exemplars)
  return dirs, max_per_subset


@functools.lru_cache(maxsize=None)
def _examples(name, dirs, max_per_subset):
  return runner.collect_examples([name], dirs, max_per_subset)[name][0]


def examples_of(name):
  dirs, max_per_subset = benchmark_data()
  try:
    return _examples(name, dirs, max_per_subset)
  except ValueError as e:
    raise ValueError(f"seqio task {TASK_PREFIX}{name}: {e} (set flan.mixtures.benchmarks.benchmark_data.data_dir "
                     "in gin or FLAN_EVAL_DATA_DIR)") from e


def _dataset_fn(split, shuffle_files, seed=None, *, name):
  del shuffle_files, seed  # one file-ordered pass: evaluation prompts are never shuffled
  if split != SPLIT:
    raise ValueError(f"seqio task {TASK_PREFIX}{name} has only the split {SPLIT!r}, not {split!r}")
  examples = examples_of(name)
  return tf.data.Dataset.from_generator(
      lambda: ({"id": e.id, "inputs": e.prompt, "targets": e.gold} for e in examples),
      output_signature={k: tf.TensorSpec((), tf.string) for k in ("id", "inputs", "targets")})


def _text(value):
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def postprocess(output, example=None, is_target=False):
  """Targets become the prompt id (the metric looks up its gold answers); predictions stay text."""
  if is_target:
    if example is None or "id" not in example:
      raise ValueError("flan_eval tasks postprocess targets from the example's 'id' feature")
    return _text(example["id"])
  return _text(output)


def make_metric(name):
  def benchmark_score(targets, predictions):
    by_id = {e.id: e for e in examples_of(name)}
    unknown = [t for t in targets if t not in by_id]
    if unknown:
      raise ValueError(f"{TASK_PREFIX}{name}: {len(unknown)} target ids are not prompts of the benchmark "
                       f"(first: {unknown[:3]})")
    examples = [by_id[t] for t in targets]
    summary, _ = runner.score_benchmark(name, examples, dict(zip(targets, predictions)))
    metrics = {"score": summary["score"], "random": summary["random"]}
    if name == "tydiqa":
      metrics["f1"] = summary["f1"]
    return metrics
  benchmark_score.__name__ = f"{name}_score"
  return benchmark_score


def register():
  output_features = {
      "inputs": seqio.Feature(vocabulary=vocab.get_vocabulary(), add_eos=True),
      "targets": seqio.Feature(vocabulary=vocab.get_vocabulary(), add_eos=True),
  }
  for name in benchmarks_lib.BENCHMARKS:
    task_name = TASK_PREFIX + name
    if task_name in seqio.TaskRegistry.names():
      continue
    seqio.TaskRegistry.add(
        task_name,
        source=seqio.FunctionDataSource(functools.partial(_dataset_fn, name=name), splits=(SPLIT,)),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        output_features=output_features, postprocess_fn=postprocess, metric_fns=[make_metric(name)])
  for mixture, names in MIXTURES.items():
    if mixture not in seqio.MixtureRegistry.names():
      seqio.MixtureRegistry.add(mixture, [TASK_PREFIX + n for n in names], default_rate=1.0)


register()
