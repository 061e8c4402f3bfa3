"""Checkpoints are never lost silently: keep_checkpoints=0 is refused and the final step always survives, a
checkpoint of another model configuration stops the run (it is not set aside), a directory where no step
reads stops the run without moving anything, and a failed write is reported at once with the last good step."""
import errno
import pathlib
import time

import jax
import jax.numpy as jnp
import pytest
from orbax.checkpoint._src.handlers import json_checkpoint_handler

from flan.errors import ConfigError, EnvironmentProblem, InputError
from flan.trainer import checkpoints, loop
from flan.trainer.state import TrainState
from tests.trainer_tiny import LENGTHS, tiny_config


def _train(model_dir, num_steps, config=None, **overrides):
  options = dict(model_dir=str(model_dir), model_config=config or tiny_config(), num_steps=num_steps,
                 batch_size=8, feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=1, stream=None)
  options.update(overrides)
  return loop.train(**options)


def _steps(model_dir):
  return sorted(int(p.name) for p in (pathlib.Path(model_dir) / "checkpoints").iterdir() if p.name.isdigit())


@pytest.mark.parametrize("keep", [0, -1, 1.5, True])
def test_keep_checkpoints_below_one_is_refused_before_anything_is_written(tmp_path, keep):
  with pytest.raises(ConfigError, match=r"train\.keep_checkpoints"):
    _train(tmp_path / "run", 2, keep_checkpoints=keep)
  assert not (tmp_path / "run" / "checkpoints").exists() or not _steps(tmp_path / "run")


def test_keep_one_keeps_the_final_checkpoint(tmp_path):
  result = _train(tmp_path / "run", 3, keep_checkpoints=1)
  assert result["step"] == 3 and _steps(tmp_path / "run") == [3]
  _, params = checkpoints.load_params_for_inference(tmp_path / "run")
  assert jax.tree.leaves(params)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_checkpoint_of_another_model_is_a_configuration_error_and_is_kept(tmp_path):
  model_dir = tmp_path / "run"
  _train(model_dir, 2)
  before = sorted(p.name for p in (model_dir / "checkpoints").iterdir())
  with pytest.raises(ConfigError, match=r"checkpoint step 2 .* does not match the configured model: parameter "
                                        r"decoder/decoder_norm/scale has shape \(16,\) in the checkpoint, \(32,\) configured"):
    _train(model_dir, 4, config=tiny_config(emb_dim=32))
  assert sorted(p.name for p in (model_dir / "checkpoints").iterdir()) == before
  assert not (model_dir / "unreadable_checkpoints").exists()
  with pytest.raises(ConfigError, match=r"parameter decoder/layers_1/\S+ \(shape .*\) is not in the checkpoint"):
    _train(model_dir, 4, config=tiny_config(num_decoder_layers=2))
  assert sorted(p.name for p in (model_dir / "checkpoints").iterdir()) == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_when_no_step_reads_the_run_stops_and_nothing_is_moved(tmp_path):
  model_dir = tmp_path / "run"
  _train(model_dir, 2)
  for path in (model_dir / "checkpoints").rglob("*"):  # truncate every array file of every step
    if path.is_file() and path.parent.name == "d":
      path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
  with pytest.raises(InputError, match=r"no checkpoint in .* can be read \(steps 2, 1\).*Nothing was moved"):
    _train(model_dir, 4)
  assert _steps(model_dir) == [1, 2] and not (model_dir / "unreadable_checkpoints").exists()


def _state(step):
  return TrainState(step=jnp.asarray(step, jnp.int32), params={"w": jnp.ones((4, 4))},
                    opt_state={"v": jnp.zeros((4,))})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_failed_background_write_is_reported_at_the_next_check_with_the_last_good_step(tmp_path, monkeypatch):
  checkpointer = checkpoints.Checkpointer(tmp_path / "run", keep=3, use_async=True)
  checkpointer.save(_state(1), iterator_state={"batches_read": 1}, model_config=tiny_config())
  checkpointer.wait()
  assert checkpointer.last_written_step == 1

  async def disk_full(self, item, directory):
    del self, item
    raise OSError(errno.ENOSPC, "No space left on device", str(directory / "metadata"))

  monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, "_save_fn", disk_full)
  checkpointer.save(_state(2), iterator_state={"batches_read": 2}, model_config=tiny_config())
  deadline = time.time() + 60
  with pytest.raises(EnvironmentProblem) as raised:
    while time.time() < deadline:  # the loop calls check() once per step; no second save is needed
      checkpointer.check()
      time.sleep(0.05)
  message = str(raised.value)
  assert "writing checkpoint step 2 to" in message and "No space left on device" in message
  assert "the last checkpoint written is step 1" in message and raised.value.exit_code == 1
  monkeypatch.undo()
  checkpointer.close()
  assert _steps(tmp_path / "run") == [1]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_full_disk_during_training_stops_the_run_naming_the_step_and_the_last_good_one(tmp_path, monkeypatch):
  save_json = json_checkpoint_handler.JsonCheckpointHandler._save_fn

  async def full_from_step_4(self, item, directory):
    if "checkpoints/4." in str(directory):
      raise OSError(errno.ENOSPC, "No space left on device", str(directory / "metadata"))
    return await save_json(self, item, directory)

  monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, "_save_fn", full_from_step_4)
  with pytest.raises(EnvironmentProblem, match=r"writing checkpoint step 4 .*No space left on device.*the last "
                                               r"checkpoint written is step 2"):
    _train(tmp_path / "run", 8, checkpoint_every=2)
  monkeypatch.undo()
  assert _steps(tmp_path / "run") == [2]


def test_a_failed_synchronous_write_names_the_path(tmp_path, monkeypatch):
  checkpointer = checkpoints.Checkpointer(tmp_path / "run", use_async=False)

  async def read_only(self, item, directory):
    del self, item
    raise OSError(errno.EROFS, "Read-only file system", str(directory / "metadata"))

  monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, "_save_fn", read_only)
  with pytest.raises(EnvironmentProblem, match=r"writing checkpoint step 5 .*read-only.*no checkpoint of this "
                                               r"run has been written"):
    checkpointer.save(_state(5), iterator_state={}, model_config=tiny_config())
  monkeypatch.undo()
  checkpointer.close()
