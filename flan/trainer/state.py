"""Train state (step, params, optimizer state), its shardings, and creating it on the mesh."""
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from flan import partitioning


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar: number of optimizer updates applied
  params: Any
  opt_state: Any


def unbox(tree):
  """Values of flax's partitioned boxes (without the sharding constraint `nn.unbox` adds under rules)."""
  is_box = lambda x: isinstance(x, nn.Partitioned)
  return jax.tree.map(lambda x: x.value if is_box(x) else x, tree, is_leaf=is_box)


def _replicated(mesh, tree):
  return jax.tree.map(lambda _: NamedSharding(mesh, PartitionSpec()), tree)


def _spec_entries(sharding, ndim):
  entries = tuple(sharding.spec)
  return entries + (None,) * (ndim - len(entries))


def _without_axis(sharding, ndim, axis):
  entries = list(_spec_entries(sharding, ndim))
  del entries[axis]
  return NamedSharding(sharding.mesh, PartitionSpec(*entries))


def _factored_state_shardings(state, params, shardings, mesh):
  """Row/column statistics drop one axis of the parameter; their shardings drop the same axis."""

  def one(param, sharding, v_row, v_col, v):
    replicated = NamedSharding(mesh, PartitionSpec())
    if v.shape == param.shape:
      return replicated, replicated, sharding
    if v_row.shape == (1,) and v_col.shape == (1,):
      return replicated, replicated, replicated
    # optax factors the two largest dims: v_row drops the largest (d0), v_col the second largest (d1)
    order = np.argsort(param.shape)
    d1, d0 = int(order[-2]), int(order[-1])
    row = _without_axis(sharding, param.ndim, d0)
    col = _without_axis(sharding, param.ndim, d1)
    expected_row = tuple(np.delete(param.shape, d0))
    expected_col = tuple(np.delete(param.shape, d1))
    if v_row.shape != expected_row or v_col.shape != expected_col:
      return replicated, replicated, replicated
    return row, col, replicated

  triples = jax.tree.map(one, params, shardings, state.v_row, state.v_col, state.v)
  is_triple = lambda x: isinstance(x, tuple) and len(x) == 3 and isinstance(x[0], NamedSharding)
  pick = lambda i: jax.tree.map(lambda t: t[i], triples, is_leaf=is_triple)
  return state._replace(count=NamedSharding(mesh, PartitionSpec()), v_row=pick(0), v_col=pick(1), v=pick(2))


def optimizer_state_shardings(abstract_opt_state, abstract_params, param_shardings, mesh):
  """Shardings for an optax state: param-shaped subtrees follow the params, the rest is replicated."""
  params_structure = jax.tree.structure(abstract_params)

  def for_substate(substate):
    if isinstance(substate, optax.FactoredState):
      return _factored_state_shardings(substate, abstract_params, param_shardings, mesh)
    if isinstance(substate, tuple) and hasattr(substate, "_fields"):
      return type(substate)(*[
          param_shardings if jax.tree.structure(field) == params_structure else _replicated(mesh, field)
          for field in substate])
    if isinstance(substate, tuple):
      return tuple(for_substate(s) for s in substate)
    return _replicated(mesh, substate)

  return for_substate(abstract_opt_state)


def state_shardings(model, tx, mesh, rules):
  """(abstract TrainState of unboxed arrays, TrainState of NamedShardings)."""
  boxed = partitioning.abstract_boxed_params(model)
  param_shardings = partitioning.param_shardings(boxed, mesh, rules)
  abstract_params = unbox(boxed)
  abstract_opt_state = jax.eval_shape(tx.init, abstract_params)
  shardings = TrainState(
      step=NamedSharding(mesh, PartitionSpec()), params=param_shardings,
      opt_state=optimizer_state_shardings(abstract_opt_state, abstract_params, param_shardings, mesh))
  abstract = TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=abstract_params,
                        opt_state=abstract_opt_state)
  abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)
  return abstract, shardings


def _paths(tree):
  return {jax.tree_util.keystr(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def check_params_match(params, expected):
  """Raises ValueError naming missing, unexpected or wrongly shaped parameters (given vs the model's)."""
  given, wanted = _paths(params), _paths(expected)
  missing, unexpected = sorted(set(wanted) - set(given)), sorted(set(given) - set(wanted))
  if missing or unexpected:
    more = lambda names: names[:10] + (["..."] if len(names) > 10 else [])
    raise ValueError(f"parameters do not match the model: missing {more(missing)}, unexpected {more(unexpected)}")
  for name, abstract in wanted.items():
    if tuple(np.shape(given[name])) != tuple(abstract.shape):
      raise ValueError(f"parameter {name} has shape {tuple(np.shape(given[name]))}, the model expects "
                       f"{tuple(abstract.shape)}")


def create_train_state(model, tx, shardings, *, seed=0, params=None, step=0):
  """A new TrainState laid out by `shardings`: random init from `seed`, or the given (numpy) params."""
  if params is None:
    def init(rng):
      params = unbox(model.init(rng, *model.dummy_inputs())["params"])
      return TrainState(step=jnp.asarray(step, jnp.int32), params=params, opt_state=tx.init(params))
    return jax.jit(init, out_shardings=shardings)(jax.random.key(seed))

  check_params_match(params, unbox(partitioning.abstract_boxed_params(model)))
  params = jax.tree.map(lambda p, s: jax.device_put(np.asarray(p, np.float32), s), params, shardings.params)

  def from_params(params):
    return TrainState(step=jnp.asarray(step, jnp.int32), params=params, opt_state=tx.init(params))
  return jax.jit(from_params, out_shardings=shardings)(params)
