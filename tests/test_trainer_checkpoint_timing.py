"""The loop reports checkpoint time honestly: what the save blocked (split into waiting for the previous
background write and starting this one), how long each write ran in the background, and the wait at the end."""
import io
import json
import time

from flan.trainer import checkpoints, loop
from tests.trainer_tiny import LENGTHS, tiny_config

SLOW_WRITE_S = 0.4


def test_blocking_and_background_checkpoint_time_are_reported_apart(tmp_path, monkeypatch):
  wait_until_finished = checkpoints.ocp.CheckpointManager.wait_until_finished

  def slow_wait(manager):  # every wait for the write in flight blocks SLOW_WRITE_S longer
    time.sleep(SLOW_WRITE_S)
    return wait_until_finished(manager)

  monkeypatch.setattr(checkpoints.ocp.CheckpointManager, "wait_until_finished", slow_wait)
  stream = io.StringIO()
  loop.train(model_dir=str(tmp_path), model_config=tiny_config(), num_steps=3, batch_size=8,
             feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=1, async_checkpoints=True, stream=stream)
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  saves = {r["step"]: r for r in records if "checkpoint_save_s" in r}
  writes = {r["step"]: r["checkpoint_background_write_s"] for r in records if "checkpoint_background_write_s" in r}
  final = [r for r in records if "checkpoint_final_wait_s" in r]

  assert sorted(saves) == [1, 2, 3] and sorted(writes) == [1, 2, 3]
  for step in (1, 2, 3):  # each save first waits for the previous step's write to finish
    assert saves[step]["checkpoint_wait_previous_s"] >= SLOW_WRITE_S
    assert saves[step]["checkpoint_save_s"] >= saves[step]["checkpoint_wait_previous_s"]
  assert [r["step"] for r in final] == [3] and final[0]["checkpoint_final_wait_s"] >= SLOW_WRITE_S
  assert all(0.0 <= seconds < 60 for seconds in writes.values())
  text = stream.getvalue()
  assert "checkpoint step 1: save blocked the loop " in text and "; writing in the background" in text
  assert "s of it waiting for the previous write)" in text
  assert "checkpoint step 3: the loop waited " in text and "checkpoint step 3: written in the background in " in text


def test_synchronous_saves_have_no_background_write(tmp_path):
  stream = io.StringIO()
  loop.train(model_dir=str(tmp_path), model_config=tiny_config(), num_steps=2, batch_size=8,
             feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=1, async_checkpoints=False, stream=stream)
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records if "checkpoint_save_s" in r] == [1, 2]
  assert not any("checkpoint_background_write_s" in r or "checkpoint_final_wait_s" in r for r in records)
  assert "background" not in stream.getvalue()
