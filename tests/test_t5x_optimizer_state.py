"""T5X Adafactor state -> optax FactoredState: stored arrays restored as they are, and the first update equal
to a float64 numpy Adafactor step (T5X's algorithm) from that state."""
import pathlib

import flax.serialization
import jax
import numpy as np
import pytest
import tensorstore as ts

from flan.errors import InputError
from flan.models import param_names, t5x
from flan.trainer.optimizer import make_optimizer

MIN_DIM = 8  # small enough that the tiny T5's 8-wide kernels are factored, as 128 does for real sizes
STEP = 1_100_000


@pytest.fixture(scope="module")
def tiny(shared_data):
  return t5x.import_t5x(shared_data / "t5x_checkpoints" / "test_t5_tiny.checkpoint_0")


def t5x_factored_dims(shape, min_dim):
  """T5X's rule (adafactor.py _factored_dims): the two largest axes, both >= min_dim; (d1, d0) = (2nd, 1st)."""
  if len(shape) < 2:
    return None
  order = np.argsort(shape)
  if shape[order[-2]] < min_dim:
    return None
  return int(order[-2]), int(order[-1])


def random_statistics(flat_params, rng, min_dim):
  """{name: {"v_row", "v_col", "v", "m"}} laid out as T5X stores them, with positive random values."""
  states = {}
  for name, param in flat_params.items():
    shape = param.shape
    dims = t5x_factored_dims(shape, min_dim)
    entry = {k: np.zeros((1,), np.float32) for k in ("v_row", "v_col", "v", "m")}
    if dims is None:
      entry["v"] = rng.uniform(1e-4, 1e-2, shape).astype(np.float32)
    else:
      d1, d0 = dims
      entry["v_row"] = rng.uniform(1e-4, 1e-2, np.delete(shape, d0)).astype(np.float32)
      entry["v_col"] = rng.uniform(1e-4, 1e-2, np.delete(shape, d1)).astype(np.float32)
    states[name] = entry
  return states


def write_checkpoint(directory: pathlib.Path, flat_params, states, step, zarr_names=()):
  """A T5X checkpoint directory: msgpack `checkpoint` with arrays inline, except the statistics of the
  parameters in zarr_names, written through tensorstore as zarr arrays with specs in their place."""
  directory.mkdir(parents=True)
  param_states = {}
  for name, entry in states.items():
    for kind, value in entry.items():
      node = value
      if name in zarr_names:
        relative = "state.param_states." + name.replace("/", ".") + "." + kind
        spec = {"driver": "zarr", "dtype": "float32", "kvstore": {"driver": "file", "path": relative},
                "metadata": {"shape": list(value.shape), "chunks": list(value.shape),
                             "compressor": {"id": "gzip", "level": 1}}}
        store = ts.open({**spec, "kvstore": {"driver": "file", "path": str(directory / relative)}},
                        create=True, open=True).result()
        store.write(value).result()
        node = spec
      param_states[f"{name}/{kind}"] = node
  tree = {"version": 3, "optimizer": {
      "target": param_names.unflatten(dict(flat_params)),
      "state": {"step": np.int32(step), "param_states": param_names.unflatten(param_states)}}}
  (directory / "checkpoint").write_bytes(flax.serialization.msgpack_serialize(tree))
  return directory


def numpy_adafactor_update(param, grad, v_row, v_col, v, step, lr, min_dim):
  """One T5X Adafactor update in float64: decay 1 - (step + 1)^-0.8, eps1 1e-30, factored second moments,
  update clipping at RMS 1, scale lr * max(RMS(param), 1e-3), no momentum. Returns the additive update."""
  param, grad = param.astype(np.float64), grad.astype(np.float64)
  decay = 1.0 - (step + 1.0) ** -0.8
  grad_sqr = grad * grad + 1e-30
  dims = t5x_factored_dims(param.shape, min_dim)
  if dims is None:
    new_v = decay * v.astype(np.float64) + (1 - decay) * grad_sqr
    y = grad / np.sqrt(new_v)
  else:
    d1, d0 = dims
    new_row = decay * v_row.astype(np.float64) + (1 - decay) * grad_sqr.mean(axis=d0)
    new_col = decay * v_col.astype(np.float64) + (1 - decay) * grad_sqr.mean(axis=d1)
    reduced_d1 = d1 - 1 if d1 > d0 else d1
    row_factor = (new_row / new_row.mean(axis=reduced_d1, keepdims=True)) ** -0.5
    y = grad * np.expand_dims(row_factor, d0) * np.expand_dims(new_col ** -0.5, d1)
  y = y / max(1.0, np.sqrt(np.mean(y * y)))
  return -lr * max(np.sqrt(np.mean(param * param)), 1e-3) * y


def test_shared_tiny_checkpoint_state_restores(tiny, shared_data):
  path = shared_data / "t5x_checkpoints" / "test_t5_tiny.checkpoint_0"
  config, params = tiny
  step, state = t5x.import_t5x_optimizer_state(path)  # 128: nothing of the tiny T5 is factored
  stored = t5x.read_t5x_tree(path)["optimizer"]["state"]
  assert step == int(stored["step"]) == int(state.count)
  init = make_optimizer(1e-3).init(params)[0]
  assert jax.tree.structure(state) == jax.tree.structure(init)
  for name, value in param_names.flatten(state.v).items():
    np.testing.assert_array_equal(value, param_names.flatten(stored["param_states"])[f"{name}/v"])
  assert jax.tree.map(np.shape, state) == jax.tree.map(np.shape, init)


def test_factored_state_restores_exactly_and_first_update_matches_numpy(tiny, tmp_path):
  config, params = tiny
  flat = {k: np.asarray(v, np.float32) for k, v in param_names.flatten(params).items()}
  rng = np.random.default_rng(0)
  states = random_statistics(flat, rng, MIN_DIM)
  zarr_names = ("token_embedder/embedding", "encoder/layers_0/mlp/wi_0/kernel")
  directory = write_checkpoint(tmp_path / "checkpoint_1100000", flat, states, STEP, zarr_names)
  assert (directory / "state.param_states.token_embedder.embedding.v_row").is_dir()

  step, state = t5x.import_t5x_optimizer_state(directory, config, min_dim_size_to_factor=MIN_DIM)
  assert step == STEP and int(state.count) == STEP
  factored = 0
  for kind in ("v_row", "v_col", "v"):
    for name, value in param_names.flatten(getattr(state, kind)).items():
      np.testing.assert_array_equal(value, states[name][kind], err_msg=f"{name}/{kind}")
      factored += kind == "v_row" and value.shape != (1,)
  assert factored >= 20  # every kernel and the embedding are factored at MIN_DIM

  lr = 1e-3
  optimizer = make_optimizer(lr, min_dim_size_to_factor=MIN_DIM)
  opt_state = t5x.with_factored_state(optimizer.init(params), state)
  grads = jax.tree.map(lambda p: rng.normal(0, 1e-2, p.shape).astype(np.float32), params)
  updates, new_state = jax.jit(optimizer.update)(grads, opt_state, params)
  flat_updates, flat_grads = param_names.flatten(updates), param_names.flatten(grads)
  for name, param in flat.items():
    s = states[name]
    expected = numpy_adafactor_update(param, flat_grads[name], s["v_row"], s["v_col"], s["v"], STEP, lr, MIN_DIM)
    np.testing.assert_allclose(np.asarray(flat_updates[name]), expected, rtol=2e-5, atol=1e-12, err_msg=name)
  assert int(new_state[0].count) == STEP + 1
  # The restored state matters: from empty statistics at step 0 the first update differs.
  fresh_updates, _ = jax.jit(optimizer.update)(grads, optimizer.init(params), params)
  name = "encoder/layers_0/mlp/wi_0/kernel"
  assert not np.allclose(np.asarray(param_names.flatten(fresh_updates)[name]), np.asarray(flat_updates[name]),
                         rtol=1e-2)


def test_mismatched_layout_and_missing_state_are_named(tiny, tmp_path):
  config, params = tiny
  flat = {k: np.asarray(v, np.float32) for k, v in param_names.flatten(params).items()}
  states = random_statistics(flat, np.random.default_rng(1), MIN_DIM)
  directory = write_checkpoint(tmp_path / "ckpt", flat, states, 7)
  with pytest.raises(InputError, match=r"key/kernel/v_row has shape \(8,\), optax expects \(1,\) "
                                       r"\(full \(v\) second moments with min_dim_size_to_factor=128"):
    t5x.import_t5x_optimizer_state(directory, config)  # stored factored at 8, optax at 128 keeps v
  del states["decoder/decoder_norm/scale"]
  partial = write_checkpoint(tmp_path / "partial", flat, states, 7)
  with pytest.raises(InputError, match=r"no optimizer state for parameter\(s\) \['decoder/decoder_norm/scale'\]"):
    t5x.import_t5x_optimizer_state(partial, config, min_dim_size_to_factor=MIN_DIM)
  target_only = tmp_path / "target_only"
  target_only.mkdir()
  (target_only / "checkpoint").write_bytes(flax.serialization.msgpack_serialize(
      {"optimizer": {"target": param_names.unflatten(flat)}}))
  with pytest.raises(InputError, match="no optimizer state"):
    t5x.import_t5x_optimizer_state(target_only, config)
