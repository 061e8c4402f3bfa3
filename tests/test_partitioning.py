"""Mesh construction, the rules table, and a 2x4 (data x model) sharded forward pass + loss
that must equal the single-device one."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from flan import partitioning
from flan.models import Transformer, cross_entropy_loss, get_config
from model_tiny import random_params


def test_make_mesh_fills_data_axis():
  mesh = partitioning.make_mesh(model=4)
  assert mesh.axis_names == ("data", "fsdp", "model")
  assert dict(mesh.shape) == {"data": 2, "fsdp": 1, "model": 4}


def test_make_mesh_smaller_than_device_count_uses_first_devices():
  mesh = partitioning.make_mesh(data=2, fsdp=1, model=2)
  assert mesh.devices.size == 4


@pytest.mark.parametrize("kwargs, message", [
    (dict(data=4, model=4), "needs 16 devices but only 8"),
    (dict(data=-1, model=3), "do not divide"),
    (dict(data=-1, fsdp=-1), "only one mesh axis may be -1"),
    (dict(data=0), "must be a positive int"),
])
def test_make_mesh_errors(kwargs, message):
  with pytest.raises(ValueError, match=message):
    partitioning.make_mesh(**kwargs)


def test_logical_rules_table():
  rules = dict(partitioning.logical_rules())
  assert rules["batch"] == ("data", "fsdp")
  for name in ("vocab", "mlp", "heads", "joined_kv"):
    assert rules[name] == "model"
  for name in ("length", "kv", "relpos_buckets", "layers", "embed"):
    assert rules[name] is None
  assert dict(partitioning.logical_rules(fsdp_embed=True))["embed"] == "fsdp"


def _tiny(**overrides):
  return get_config("tiny", vocab_size=128, dtype="float32", **overrides)


def _abstract_params(model):
  tokens = jnp.ones((2, 8), jnp.int32)
  return jax.eval_shape(functools.partial(model.init, jax.random.PRNGKey(0)), tokens,
                        tokens)["params"]


def test_param_shardings_reject_indivisible_dimension():
  model = Transformer(_tiny(num_heads=3))  # 3 heads cannot split over model=8
  mesh = partitioning.make_mesh(data=1, model=8)
  with pytest.raises(ValueError, match=r"relpos_bias/rel_embedding dimension 0 of size 3 does "
                     r"not divide by mesh axes \('model',\) of size 8"):
    partitioning.param_shardings(_abstract_params(model), mesh, partitioning.logical_rules())


def test_check_batch_size():
  mesh = partitioning.make_mesh(data=2, model=4)
  partitioning.check_batch_size(6, mesh)
  with pytest.raises(ValueError, match="batch size 5 does not divide"):
    partitioning.check_batch_size(5, mesh)


def _batch(rng, batch=4, enc_len=12, dec_len=8, vocab=128):
  enc = rng.randint(1, vocab, (batch, enc_len)).astype(np.int32)
  enc[1, 9:] = 0
  targets = rng.randint(1, vocab, (batch, dec_len)).astype(np.int32)
  targets[2, 5:] = 0
  dec_in = np.concatenate([np.zeros((batch, 1), np.int32), targets[:, :-1]], axis=1)
  return {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in,
          "decoder_target_tokens": targets, "decoder_loss_weights": (targets > 0).astype(np.float32)}


def _forward_and_loss(model, params, batch):
  logits = model.apply({"params": params}, batch["encoder_input_tokens"],
                       batch["decoder_input_tokens"])
  loss, _ = cross_entropy_loss(logits, batch["decoder_target_tokens"],
                               batch["decoder_loss_weights"])
  return logits, loss


@pytest.mark.parametrize("scan_layers", [False, True])
def test_sharded_forward_and_loss_match_single_device(scan_layers):
  model = Transformer(_tiny(scan_layers=scan_layers))
  batch = _batch(np.random.RandomState(0))
  params = random_params(model.config)
  forward = functools.partial(_forward_and_loss, model)
  single_logits, single_loss = jax.jit(forward)(params, batch)

  mesh = partitioning.make_mesh(data=2, model=4)
  rules = partitioning.logical_rules()
  shardings = partitioning.param_shardings(_abstract_params(model), mesh, rules)
  batch_sharding = partitioning.batch_sharding(mesh)

  def sharded_forward(params, batch):
    with nn.logical_axis_rules(rules):
      return forward(params, batch)

  with jax.set_mesh(mesh):
    sharded_params = jax.device_put(params, shardings)
    sharded_batch = jax.device_put(batch, batch_sharding)
    step = jax.jit(sharded_forward, in_shardings=(shardings, batch_sharding),
                   out_shardings=(NamedSharding(mesh, P(("data", "fsdp"), None, "model")),
                                  NamedSharding(mesh, P())))
    logits, loss = step(sharded_params, sharded_batch)

  np.testing.assert_allclose(np.asarray(logits), np.asarray(single_logits), atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(float(loss), float(single_loss), atol=1e-5, rtol=1e-5)
  assert logits.sharding.shard_shape(logits.shape) == (2, 8, 32)

  layer = (lambda tree: tree["layers"]) if scan_layers else (lambda tree: tree["layers_0"])
  lead = (2,) if scan_layers else ()
  expected_shards = {
      ("token_embedder", "embedding"): (sharded_params["token_embedder"]["embedding"], (32, 32)),
      ("logits_dense",): (sharded_params["decoder"]["logits_dense"]["kernel"], (32, 32)),
      ("query",): (layer(sharded_params["encoder"])["attention"]["query"]["kernel"],
                   lead + (32, 8)),
      ("out",): (layer(sharded_params["decoder"])["self_attention"]["out"]["kernel"],
                 lead + (8, 32)),
      ("wi_0",): (layer(sharded_params["encoder"])["mlp"]["wi_0"]["kernel"], lead + (32, 16)),
      ("wo",): (layer(sharded_params["decoder"])["mlp"]["wo"]["kernel"], lead + (16, 32)),
      ("relpos",): (sharded_params["encoder"]["relpos_bias"]["rel_embedding"], (1, 32)),
  }
  for name, (array, shard_shape) in expected_shards.items():
    assert len(array.addressable_shards) == 8, name
    shapes = {tuple(s.data.shape) for s in array.addressable_shards}
    assert shapes == {shard_shape}, (name, shapes)
  norm = sharded_params["encoder"]["encoder_norm"]["scale"]
  assert {tuple(s.data.shape) for s in norm.addressable_shards} == {(32,)}


def test_describe_shardings_lists_every_parameter():
  model = Transformer(_tiny())
  mesh = partitioning.make_mesh(data=2, model=4)
  abstract = _abstract_params(model)
  shardings = partitioning.param_shardings(abstract, mesh)
  table = partitioning.describe_shardings(abstract, shardings)
  lines = table.splitlines()
  assert len(lines) == 2 + len(jax.tree_util.tree_leaves(nn.unbox(abstract)))
  row = next(line for line in lines if line.startswith("token_embedder/embedding"))
  assert "(128, 32)" in row and "('model', None)" in row
  row = next(line for line in lines if line.startswith("encoder/layers_0/mlp/wo/kernel"))
  assert "('model', None)" in row


def test_host_batch_becomes_global_arrays():
  from flan.trainer import data_source  # pylint: disable=import-outside-toplevel
  mesh = partitioning.make_mesh(data=2, model=4)
  batch = {"encoder_input_tokens": np.arange(24, dtype=np.int32).reshape(4, 6)}
  out = data_source.to_global(batch, partitioning.batch_sharding(mesh))
  array = out["encoder_input_tokens"]
  np.testing.assert_array_equal(np.asarray(array), batch["encoder_input_tokens"])
  assert {tuple(s.data.shape) for s in array.addressable_shards} == {(2, 6)}
