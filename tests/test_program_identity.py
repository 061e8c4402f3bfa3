"""flan-train and the AOT memory planner lower the same train step for the same gin files, so the memory
table (launch/MEMORY.md) describes the program training really runs."""
import re

import gin
import jax

from flan import aot
from flan import train as train_cli
from flan.trainer import program as program_lib
from tests.trainer_tiny import write_gin


def _without_metadata(text):
  """The lowered module without source locations and names that only say where it was traced from."""
  text = re.sub(r"\s*loc\([^()]*(\([^()]*\)[^()]*)*\)", "", text)
  text = "\n".join(line for line in text.splitlines() if not line.startswith("#loc"))
  return re.sub(r"mhlo\.frontend_attributes = \{[^}]*\}", "", text)


def test_flan_train_and_the_aot_planner_lower_the_same_program(tmp_path, monkeypatch):
  gin_file = write_gin(tmp_path / "tiny.gin", num_steps=3, checkpoint_every=3)
  bindings = [f"train.model_dir='{tmp_path / 'run'}'", "train.mesh_data=2", "train.mesh_fsdp=2",
              "train.mesh_model=2", "train.num_microbatches=2"]
  lowered_texts = []
  original = program_lib.TrainProgram.lower

  def recording_lower(self, state, batch):
    lowered = original(self, state, batch)
    lowered_texts.append(lowered.as_text())
    return lowered

  monkeypatch.setattr(program_lib.TrainProgram, "lower", recording_lower)
  try:
    assert train_cli.main([f"--gin_file={gin_file}"] + [f"--gin.{b}" for b in bindings]) == 0
    gin.clear_config()
    run = aot.gin_run_config([gin_file], bindings, [], num_devices=8)
    aot.lower_train_step(run, jax.devices()[:8])
  finally:
    gin.clear_config()
  assert len(lowered_texts) == 2
  trained, planned = (_without_metadata(text) for text in lowered_texts)
  assert "stablehlo" in trained and len(trained) > 10_000
  assert trained == planned
