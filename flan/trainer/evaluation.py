"""Evaluation during training: teacher-forced loss and token accuracy on eval tasks, and (optionally)
greedy predictions scored by exact match against the targets."""
import jax
import numpy as np

from flan.trainer import data_source as data_source_lib
from flan.trainer import program as program_lib


def text_examples(task, count, split="validation"):
  """The first `count` (input text, target text) pairs of a registered seqio task's split."""
  import seqio  # pylint: disable=import-outside-toplevel  # TensorFlow: only when text eval is asked for
  from flan.data import examples  # pylint: disable=import-outside-toplevel
  examples.import_registrations()
  dataset = seqio.get_mixture_or_task(task).get_dataset(sequence_length=None, split=split, shuffle=False)
  return [(row["inputs_pretokenized"].decode(), row["targets_pretokenized"].decode())
          for row in dataset.take(count).as_numpy_iterator()]


def exact_match_accuracy(config, params, tokenizer, pairs, *, max_decode_length=16, batch_size=32, mesh=None,
                         rules=None):
  """(fraction of greedy predictions equal to the target after stripping spaces, predictions)."""
  from flan.models import families  # pylint: disable=import-outside-toplevel
  predictions = families.predict_texts_any(config, params, tokenizer, [x for x, _ in pairs], method="greedy",
                                           max_decode_length=max_decode_length, batch_size=batch_size, mesh=mesh,
                                           rules=rules)
  correct = [p.strip() == y.strip() for p, (_, y) in zip(predictions, pairs)]
  return sum(correct) / max(len(correct), 1), predictions


class Evaluator:
  """Evaluates params on the first `config.eval_batches` batches of each eval task's validation split; with a
  tokenizer, also the exact-match accuracy of greedy predictions on the first `config.eval_predictions`
  examples."""

  def __init__(self, config, program, data, *, split="validation", tokenizer=None):
    self.config = config
    self.model = program.model
    self.mesh, self.rules = program.mesh, program.rules
    self.data = data
    self.tasks = list(config.eval_tasks)
    self.rows = config.rows_per_host
    self.split = split
    self.batch_sharding = program.batch_sharding
    self.eval_step = program_lib.build_eval_step(program.model, program.state_shardings.params,
                                                 program.batch_sharding)
    self.tokenizer = tokenizer
    self.num_predictions = config.eval_predictions if tokenizer is not None else 0
    self._text = {}

  def _batches(self, task):
    iterator = self.data.iterator(name=task, batch_size=self.config.batch_size,
                                  feature_lengths=self.config.feature_lengths, pack=False, seed=0,
                                  split=self.split, shuffle=False, repeat=False,
                                  converter=self.config.converter, bos_id=self.config.bos_id)
    for index, batch in enumerate(iterator):
      if index >= self.config.eval_batches:
        return
      yield self._pad_rows(batch)

  def _pad_rows(self, batch):
    """A short last batch gets all-padding rows (zero loss weight) to keep the compiled shape."""
    padded = {}
    for name, value in batch.items():
      if value.shape[0] < self.rows:
        value = np.concatenate([value, np.zeros((self.rows - value.shape[0],) + value.shape[1:], value.dtype)])
      padded[name] = value
    return padded

  def _predict_batch_size(self):
    parallel = 1 if self.mesh is None else self.mesh.shape["data"] * self.mesh.shape["fsdp"]
    return max(parallel, (32 // parallel) * parallel)

  def evaluate(self, params):
    results = {}
    for task in self.tasks:
      totals = {"loss_sum": 0.0, "weight_sum": 0.0, "correct": 0.0}
      for batch in self._batches(task):
        values = jax.device_get(self.eval_step(params, data_source_lib.to_global(batch, self.batch_sharding)))
        for key in totals:
          totals[key] += float(values[key])
      tokens = max(totals["weight_sum"], 1.0)
      results[f"eval/{task}/loss"] = totals["loss_sum"] / tokens
      results[f"eval/{task}/token_accuracy"] = totals["correct"] / tokens
      if self.num_predictions:
        if task not in self._text:
          self._text[task] = text_examples(task, self.num_predictions, self.split)
        accuracy, _ = exact_match_accuracy(
            self.model.config, params, self.tokenizer, self._text[task],
            max_decode_length=self.config.feature_lengths["targets"], batch_size=self._predict_batch_size(),
            mesh=self.mesh, rules=self.rules)
        results[f"eval/{task}/exact_match"] = accuracy
    return results
