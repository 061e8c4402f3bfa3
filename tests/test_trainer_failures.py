"""A non-finite loss stops the run naming the step and keeps the last good checkpoint; a truncated latest
checkpoint is skipped with a warning in favour of the previous one."""
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan import partitioning
from flan.models import losses, t5
from flan.trainer import data_source
from flan.trainer import checkpoints, loop, metrics, optimizer, schedules
from flan.trainer import state as state_lib
from tests.trainer_tiny import LENGTHS, tiny_config

POISON_WEIGHT = 7  # synthetic loss weights are 0/1; a 7 marks the batch whose loss becomes NaN


def _poison_batch(monkeypatch, at_batch):
  make_iterator = data_source.DataSource.iterator

  class Poisoned:
    def __init__(self, inner):
      self.inner = inner

    def __next__(self):
      index = self.inner.batches_read
      batch = next(self.inner)
      if index == at_batch:
        batch["decoder_loss_weights"][0, 0] = POISON_WEIGHT
      return batch

    def get_state(self):
      return self.inner.get_state()

    def set_state(self, state):
      self.inner.set_state(state)

  monkeypatch.setattr(data_source.DataSource, "iterator", lambda *a, **k: Poisoned(make_iterator(*a, **k)))
  cross_entropy = losses.cross_entropy_loss

  def nan_when_poisoned(logits, targets, weights, **kwargs):
    loss, aux = cross_entropy(logits, targets, weights, **kwargs)
    return loss * jnp.where(jnp.any(weights == POISON_WEIGHT), jnp.nan, 1.0), aux

  monkeypatch.setattr(losses, "cross_entropy_loss", nan_when_poisoned)


def _restore(model_dir, config):
  mesh = partitioning.make_mesh(data=1, model=1)
  rules = partitioning.logical_rules()
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    tx = optimizer.make_optimizer(schedules.make_schedule())
    abstract, _ = state_lib.state_shardings(t5.Transformer(config), tx, mesh, rules)
    checkpointer = checkpoints.Checkpointer(model_dir)
    try:
      return checkpointer.restore_latest(abstract)
    finally:
      checkpointer.close()


# orbax's background save machinery can report "Event loop is closed" at interpreter cleanup after a run is
# stopped by an exception; the checkpoints themselves are checked below.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_nan_loss_stops_with_step_and_keeps_checkpoints_then_truncated_latest_falls_back(tmp_path, monkeypatch):
  config = tiny_config()
  model_dir = tmp_path / "run"
  _poison_batch(monkeypatch, at_batch=4)  # the batch of step 5
  with pytest.raises(metrics.NonFiniteLossError, match="non-finite at step 5"):
    loop.train(model_dir=str(model_dir), model_config=config, num_steps=8, batch_size=8,
               feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=2, stream=None)
  monkeypatch.undo()

  state, iterator_state, step = _restore(model_dir, config)
  assert step == 4 and iterator_state["batches_read"] == 4
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(jax.device_get(state.params)))

  # truncate every array file of the latest step: restore warns and uses step 2
  for path in (pathlib.Path(checkpoints.checkpoint_dir(model_dir)) / "4").rglob("*"):
    if path.is_file() and path.parent.name == "d":
      path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
  with pytest.warns(RuntimeWarning, match=r"step 4 .* could not be read .* moved to .*falling back to step 2"):
    _, iterator_state, step = _restore(model_dir, config)
  assert step == 2 and iterator_state["batches_read"] == 2
  # the unreadable step is moved aside, so the resumed run can write step 4 again
  assert sorted(int(p.name) for p in (model_dir / "checkpoints").iterdir() if p.name.isdigit()) == [2]
  assert len(list((model_dir / "unreadable_checkpoints").iterdir())) == 1


@pytest.mark.parametrize("prefetch_batches", [0, 2])
def test_a_failure_late_in_setup_closes_what_was_opened(tmp_path, monkeypatch, prefetch_batches):
  from flan.trainer import prefetch, session  # pylint: disable=import-outside-toplevel
  closed = []
  for owner, name in ((checkpoints.Checkpointer, "checkpointer"), (metrics.MetricsLogger, "logger"),
                      (prefetch.Prefetcher, "prefetcher")):
    original = owner.close
    monkeypatch.setattr(owner, "close", lambda self, _o=original, _n=name: (closed.append(_n), _o(self))[1])

  def fail(*args, **kwargs):
    raise RuntimeError("evaluators could not be built")
  monkeypatch.setattr(session, "make_evaluators", fail)
  with pytest.raises(RuntimeError, match="evaluators could not be built"):
    loop.train(model_dir=str(tmp_path / "run"), model_config=tiny_config(), num_steps=2, batch_size=8,
               feature_lengths=LENGTHS, mesh_data=1, prefetch_batches=prefetch_batches, stream=None)
  expected = {"checkpointer", "logger"} | ({"prefetcher"} if prefetch_batches else set())
  assert sorted(closed) == sorted(expected)
