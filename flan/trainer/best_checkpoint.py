"""The checkpoint of the best held-out benchmark score, kept apart from the last N in MODEL_DIR/best (itself a
flan model directory: checkpoints/<step>, spiece.model), as the paper chose checkpoints by held-out scores."""
import os
import shutil
import time

import gin

from flan.trainer import checkpoints as checkpoints_lib

BEST_DIR = "best"


class BestCheckpoint:
  """Tracks the best score (key, default the normalized average) across resumes and keeps its state."""

  def __init__(self, model_dir, model_config, vocabulary_file=None):
    from flan.evaluation import in_training  # pylint: disable=import-outside-toplevel  # only runs that use it
    self._in_training = in_training
    self.record = in_training.BestScore(model_dir)
    self.key = self.record.key
    self.directory = os.path.join(model_dir, BEST_DIR)
    self.model_config = model_config
    self.vocabulary_file = vocabulary_file

  def is_better(self, results) -> bool:
    return self.key in results and self._in_training.is_better(results[self.key], self.record.score)

  def keep(self, state, iterator_state) -> float:
    """Saves `state` as the best checkpoint (replacing the previous best); returns the seconds it took.
    The caller records the score afterwards, so a crash in between never names a checkpoint not kept."""
    started = time.perf_counter()
    checkpointer = checkpoints_lib.Checkpointer(self.directory, keep=1, use_async=False)
    try:
      checkpointer.save(state, iterator_state=iterator_state, model_config=self.model_config,
                        gin_config=gin.operative_config_str())
      checkpointer.wait()
    finally:
      checkpointer.close()
    if self.vocabulary_file:
      shutil.copyfile(self.vocabulary_file, os.path.join(self.directory, "spiece.model"))
    return time.perf_counter() - started
