"""Sharded training equals one device; gradient accumulation equals the full batch."""
import jax
import numpy as np
import pytest

from flan.trainer import loop
from tests.trainer_tiny import LENGTHS, tiny_config


def _run(tmp_path, name, **kwargs):
  args = dict(model_dir=str(tmp_path / name), model_config=tiny_config(), num_steps=5, batch_size=8,
              feature_lengths=LENGTHS, checkpoint_every=100, async_checkpoints=False, stream=None)
  args.update(kwargs)
  result = loop.train(**args)
  losses = np.array([record["loss"] for record in result["history"]])
  params = jax.tree.map(np.asarray, jax.device_get(result["state"].params))
  return losses, params, result["state"].params


def _assert_trees_close(a, b, atol):
  flat_a = jax.tree_util.tree_leaves_with_path(a)
  flat_b = jax.tree.leaves(b)
  for (path, x), y in zip(flat_a, flat_b):
    np.testing.assert_allclose(x, y, atol=atol, rtol=0, err_msg=jax.tree_util.keystr(path))


def test_2x4_mesh_matches_one_device(tmp_path):
  one_losses, one_params, _ = _run(tmp_path, "one", mesh_data=1, mesh_model=1)
  mesh_losses, mesh_params, sharded = _run(tmp_path, "mesh", mesh_data=2, mesh_model=4)
  np.testing.assert_allclose(mesh_losses, one_losses, atol=1e-5, rtol=0)
  _assert_trees_close(mesh_params, one_params, atol=1e-5)
  # model-axis parameters really are split: each device holds a quarter of the MLP input kernel
  wi = sharded["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel"]
  assert wi.sharding.spec[1] == "model"
  assert {shard.data.shape for shard in wi.addressable_shards} == {(16, 8)}
  embedding = sharded["token_embedder"]["embedding"]
  assert {shard.data.shape for shard in embedding.addressable_shards} == {(16, 16)}


@pytest.mark.parametrize("microbatches", [4])
def test_gradient_accumulation_matches_full_batch(tmp_path, microbatches):
  full_losses, full_params, _ = _run(tmp_path, "full", num_steps=2, mesh_data=1, mesh_model=1)
  micro_losses, micro_params, _ = _run(tmp_path, "micro", num_steps=2, mesh_data=1, mesh_model=1,
                                        num_microbatches=microbatches)
  np.testing.assert_allclose(micro_losses, full_losses, atol=1e-5, rtol=0)
  _assert_trees_close(micro_params, full_params, atol=1e-5)
