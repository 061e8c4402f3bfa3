"""Periodic evaluation during training: teacher-forced loss and token accuracy on eval tasks."""
import jax
import numpy as np

from flan.trainer import batches as batches_lib
from flan.trainer import step as step_lib


class Evaluator:
  """Evaluates params on the first `num_batches` batches of each task's validation split."""

  def __init__(self, model, tasks, *, batch_size, feature_lengths, num_batches, batch_sharding,
               params_sharding, vocab_size, split="validation"):
    self.tasks = list(tasks)
    self.vocab_size = vocab_size
    self.rows = batch_size // jax.process_count()
    self.batch_size = batch_size
    self.feature_lengths = feature_lengths
    self.num_batches = num_batches
    self.split = split
    self.batch_sharding = batch_sharding
    self.eval_step = jax.jit(step_lib.make_eval_step(model), in_shardings=(params_sharding, batch_sharding))

  def _batches(self, task):
    iterator = batches_lib.make_train_iterator(
        task, batch_size=self.batch_size, feature_lengths=self.feature_lengths, pack=False, seed=0,
        vocab_size=self.vocab_size, split=self.split, shuffle=False, repeat=False)
    for index, batch in enumerate(iterator):
      if index >= self.num_batches:
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

  def evaluate(self, params):
    results = {}
    for task in self.tasks:
      totals = {"loss_sum": 0.0, "weight_sum": 0.0, "correct": 0.0}
      for batch in self._batches(task):
        values = jax.device_get(self.eval_step(params, batches_lib.to_global(batch, self.batch_sharding)))
        for key in totals:
          totals[key] += float(values[key])
      tokens = max(totals["weight_sum"], 1.0)
      results[f"eval/{task}/loss"] = totals["loss_sum"] / tokens
      results[f"eval/{task}/token_accuracy"] = totals["correct"] / tokens
    return results
