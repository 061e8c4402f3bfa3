"""Input prefetch in the trainer: the same batches in the same order as without it, and a checkpoint taken while
batches wait in the prefetch queue resumes without repeating or skipping any."""
import jax
import numpy as np

from flan.trainer import loop
from tests.trainer_tiny import LENGTHS, tiny_config


def _train(model_dir, num_steps, prefetch_batches):
  return loop.train(model_dir=str(model_dir), model_config=tiny_config(), num_steps=num_steps, batch_size=8,
                    feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=3, async_checkpoints=False,
                    prefetch_batches=prefetch_batches, stream=None)


def test_prefetch_changes_nothing_and_resumes_exactly(tmp_path):
  plain = _train(tmp_path / "plain", 6, prefetch_batches=0)
  prefetched = _train(tmp_path / "prefetched", 6, prefetch_batches=2)
  assert [r["loss"] for r in prefetched["history"]] == [r["loss"] for r in plain["history"]]
  assert all("data_wait_s" in r for r in prefetched["history"])
  _train(tmp_path / "resumed", 3, prefetch_batches=2)  # saved at step 3 with batches 4 and 5 prefetched
  resumed = _train(tmp_path / "resumed", 6, prefetch_batches=2)
  assert [r["loss"] for r in resumed["history"]] == [r["loss"] for r in plain["history"]][3:]
  for a, b in zip(jax.tree.leaves(plain["state"].params), jax.tree.leaves(resumed["state"].params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
