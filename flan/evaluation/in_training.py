"""Held-out benchmark scores during training, for choosing checkpoints as the paper did.

A BenchmarkEvaluator fixes, once, a seeded random subset of each benchmark's prompts (e.g. 200 MMLU and
200 BBH direct prompts); every evaluate(params) decodes exactly those prompts greedily with
flan.models.decoding and scores them with the flan-eval harness, so scores of two steps are comparable and
equal to what flan-eval gives for the same predictions. TensorFlow-free.
"""
import json
import os
import pathlib
from typing import Optional

import numpy as np

from flan.errors import ConfigError
from flan.errors import InputError
from flan.evaluation import benchmarks as benchmarks_lib
from flan.evaluation import metrics
from flan.evaluation import runner
from flan.evaluation import setups

PREFIX = "bench/"
NORMALIZED_AVERAGE = PREFIX + "normalized_average"


def select_prompts(examples, num_prompts, seed):
  """A seeded subset of num_prompts examples (all of them when fewer), in their original order."""
  if num_prompts is None or num_prompts >= len(examples):
    return list(examples)
  chosen = np.random.default_rng(seed).choice(len(examples), size=num_prompts, replace=False)
  return [examples[i] for i in sorted(chosen)]


class BenchmarkEvaluator:
  """Scores params on fixed subsets of held-out benchmarks.

  config: the model's config (T5Config or DecoderConfig); tokenizer: its flan.models.tokenizer.Tokenizer.
  benchmarks: names or aliases as flan-eval's --benchmarks (default MMLU and BBH, direct).
  data_dir / *_dir / mmlu_cot_prompts: where the benchmark files are (as flan-eval's flags).
  num_prompts: prompts per benchmark; seed: which ones (a different seed per benchmark is derived from it).
  mmlu_split: "test" or "validation"; choosing checkpoints on the split that is reported afterwards
    overstates the reported score, so prefer validation when the data has it.
  """

  def __init__(self, config, tokenizer, benchmarks="mmlu_direct,bbh_direct", data_dir=None, *,
               mmlu_dir=None, bbh_dir=None, tydiqa_dir=None, mgsm_dir=None, mmlu_cot_prompts=None,
               num_prompts=200, seed=0, batch_size=16, max_input_length=1024, direct_decode_length=32,
               cot_decode_length=256, mmlu_split="test"):
    if num_prompts is not None and num_prompts < 1:
      raise ConfigError(f"benchmark evaluation: num_prompts={num_prompts} must be >= 1")
    self.config = config
    self.tokenizer = tokenizer
    self.batch_size = batch_size
    self.max_input_length = max_input_length
    self.direct_decode_length = direct_decode_length
    self.cot_decode_length = cot_decode_length
    self.setup = setups.EvalSetup.from_flags(mmlu_split=mmlu_split)
    names = benchmarks_lib.resolve_names(benchmarks)
    dirs = benchmarks_lib.DataDirs(data_dir=data_dir, mmlu_dir=mmlu_dir, bbh_dir=bbh_dir, tydiqa_dir=tydiqa_dir,
                                   mgsm_dir=mgsm_dir, mmlu_cot_prompts=mmlu_cot_prompts)
    collected = runner.collect_examples(names, dirs, setup=self.setup)
    self.examples = {name: select_prompts(examples, num_prompts, seed + index)
                     for index, (name, (examples, _)) in enumerate(collected.items())}
    self.last_predictions = {}

  @property
  def benchmark_names(self):
    return tuple(self.examples)

  def decode_length(self, name):
    return self.cot_decode_length if name in benchmarks_lib.CHAIN_OF_THOUGHT else self.direct_decode_length

  def predict(self, params, mesh=None, rules=None):
    """{benchmark: {prompt id: greedy prediction}} for the fixed prompts."""
    from flan.models import families  # pylint: disable=import-outside-toplevel
    predictions = {}
    for name, examples in self.examples.items():
      texts = families.predict_texts_any(self.config, params, self.tokenizer, [e.prompt for e in examples],
                                         method="greedy", max_decode_length=self.decode_length(name),
                                         batch_size=self.batch_size, max_input_length=self.max_input_length,
                                         mesh=mesh, rules=rules)
      predictions[name] = {e.id: text for e, text in zip(examples, texts)}
    return predictions

  def score(self, predictions):
    """{"bench/<benchmark>": score, ..., "bench/normalized_average": x} of predictions from predict()."""
    raw, random, results = {}, {}, {}
    for name, examples in self.examples.items():
      summary, _ = runner.score_benchmark(name, examples, predictions[name], self.setup)
      raw[name], random[name] = summary["score"], summary["random"]
      results[PREFIX + name] = summary["score"]
    results[NORMALIZED_AVERAGE] = metrics.normalized_average(raw, random)
    return results

  def evaluate(self, params, mesh=None, rules=None) -> dict:
    """Scores of params (an unboxed parameter tree, numpy or placed jax arrays) on the fixed prompts."""
    self.last_predictions = self.predict(params, mesh, rules)
    return self.score(self.last_predictions)


def is_better(score: Optional[float], best: Optional[float]) -> bool:
  """Whether score beats the best so far (any score beats none; ties keep the earlier checkpoint)."""
  return score is not None and (best is None or score > best)


class BestScore:
  """The best benchmark score of a run and its step, kept in MODEL_DIR/best_benchmark_score.json so a
  resumed run still knows it. update() says whether a step is the new best (the caller keeps its checkpoint)."""

  FILE = "best_benchmark_score.json"

  def __init__(self, model_dir, key=NORMALIZED_AVERAGE):
    self.path = pathlib.Path(model_dir) / self.FILE
    self.key = key
    self.step, self.score = None, None
    if self.path.is_file():
      try:
        saved = json.loads(self.path.read_text(encoding="utf-8"))
        if saved.get("key") == key:
          self.step, self.score = int(saved["step"]), float(saved["score"])
      except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{self.path}: not a best-score record ({error}); delete it to start afresh") from error

  def update(self, step, scores) -> bool:
    if self.key not in scores:
      raise ValueError(f"no {self.key!r} among the scores {sorted(scores)}")
    if not is_better(scores[self.key], self.score):
      return False
    self.step, self.score = int(step), float(scores[self.key])
    self.path.parent.mkdir(parents=True, exist_ok=True)
    partial = self.path.with_name(self.path.name + ".tmp")
    partial.write_text(json.dumps({"key": self.key, "step": self.step, "score": self.score}) + "\n",
                       encoding="utf-8")
    os.replace(partial, self.path)
    return True
