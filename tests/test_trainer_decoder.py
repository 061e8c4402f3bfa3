"""Decoder-only models go through the same trainer: packed single-stream batches (causal or prefix-LM), the
same step builder, checkpoints and resume; the loss is on the targets only."""
import io
import json

import numpy as np

from flan.models.decoder_config import get_decoder_config
from flan.trainer import loop

LENGTHS = {"inputs": 24, "targets": 8}


def _config(**overrides):
  fields = dict(vocab_size=64, emb_dim=32, num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=64, num_layers=2,
                dtype="float32")
  fields.update(overrides)
  return get_decoder_config("tiny", **fields)


def _train(model_dir, **overrides):
  import gin  # pylint: disable=import-outside-toplevel
  settings = dict(model_dir=str(model_dir), model_config=_config(), num_steps=30, batch_size=8,
                  feature_lengths=LENGTHS, mesh_data=-1, checkpoint_every=10, async_checkpoints=False, stream=None)
  settings.update(overrides)
  gin.bind_parameter("make_schedule.base_learning_rate", 0.01)
  try:
    return loop.train(**settings)
  finally:
    gin.clear_config()


def test_decoder_trains_on_synthetic_streams_and_resumes_exactly(tmp_path):
  progress = io.StringIO()
  full = _train(tmp_path / "full", num_steps=30, stream=progress, log_every=10)
  assert "nonpad stream" in progress.getvalue()
  losses = [r["loss"] for r in full["history"]]
  assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
  records = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
  step_records = [r for r in records if "loss" in r]
  assert all(0 < r["nonpadding_fraction/stream"] <= 1 for r in step_records)
  _train(tmp_path / "resumed", num_steps=20)
  resumed = _train(tmp_path / "resumed", num_steps=30)
  np.testing.assert_array_equal([r["loss"] for r in resumed["history"]], losses[20:])


def test_prefix_lm_decoder_trains_on_the_demo_mixture(tmp_path, monkeypatch):
  monkeypatch.setenv("FLAN_CACHE_DIR", str(tmp_path / "cache"))
  result = _train(tmp_path / "demo", model_config=_config(prefix_lm=True, vocab_size=1152), mixture="flan_demo",
                  num_steps=3, checkpoint_every=3, feature_lengths={"inputs": 48, "targets": 16})
  assert result["step"] == 3 and all(np.isfinite(r["loss"]) for r in result["history"])
  assert (tmp_path / "demo" / "spiece.model").is_file()
