"""Starting from an existing checkpoint (flan's own here; HF and T5X go through the same
flan.models.pretrained.load_pretrained), refusing a mismatched one, and periodic evaluation."""
import json

import gin
import jax
import numpy as np
import pytest

from flan import errors
from flan.trainer import checkpoints, loop
from tests.trainer_tiny import LENGTHS, tiny_config


def _train(model_dir, **overrides):
  args = dict(model_dir=str(model_dir), model_config=tiny_config(), num_steps=2, batch_size=8,
              feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=100, async_checkpoints=False, stream=None)
  args.update(overrides)
  return loop.train(**args)


def test_init_from_checkpoint_with_eval_and_mismatch(tmp_path):
  _train(tmp_path / "first")
  _, first_params = checkpoints.load_params_for_inference(tmp_path / "first")

  # learning rate 0: the second run's parameters stay exactly the ones it started from
  gin.bind_parameter("make_schedule.base_learning_rate", 0.0)
  try:
    result = _train(tmp_path / "second", init_checkpoint=str(tmp_path / "first"), num_steps=2,
                    eval_every=1, eval_tasks=("synthetic",), eval_batches=2)
  finally:
    gin.clear_config()
  second_params = jax.device_get(result["state"].params)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(first_params), jax.tree.leaves(second_params)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))

  records = [json.loads(line) for line in (tmp_path / "second" / "metrics.jsonl").read_text().splitlines()]
  evals = [r for r in records if "eval/synthetic/loss" in r]
  assert [r["step"] for r in evals] == [1, 2]
  assert 0 < evals[0]["eval/synthetic/loss"] < 10 and 0 <= evals[0]["eval/synthetic/token_accuracy"] <= 1
  assert evals[0]["eval/synthetic/loss"] == pytest.approx(evals[1]["eval/synthetic/loss"])  # params unchanged
  assert any("compile_s" in r for r in records) and any("checkpoint_save_s" in r for r in records)

  with pytest.raises(errors.ConfigError, match="emb_dim checkpoint=16 config=32"):
    _train(tmp_path / "third", init_checkpoint=str(tmp_path / "first"), model_config=tiny_config(emb_dim=32))
