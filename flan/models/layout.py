"""Conversion between the unscanned parameter layout (`layers_{i}`, the T5X checkpoint
layout) and the scanned one (`layers` with a leading "layers" axis)."""
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flan.models.config import T5Config

STACKS = ("encoder", "decoder")


def _num_layers(config: T5Config, stack: str) -> int:
  return config.num_encoder_layers if stack == "encoder" else config.num_decoder_layers


def _is_box(x):
  return isinstance(x, nn.Partitioned)


def _stack_leaves(*leaves):
  if _is_box(leaves[0]):
    values = _stack_leaves(*[leaf.value for leaf in leaves])
    return leaves[0].replace(value=values, names=("layers",) + tuple(leaves[0].names))
  if all(isinstance(leaf, np.ndarray) for leaf in leaves):
    return np.stack(leaves)
  return jnp.stack(leaves)


def _unstack_leaf(leaf, i):
  if _is_box(leaf):
    if not leaf.names or leaf.names[0] != "layers":
      raise ValueError(f"scanned parameter has logical names {leaf.names}, expected 'layers' first")
    return leaf.replace(value=leaf.value[i], names=tuple(leaf.names[1:]))
  return leaf[i]


def _as_dict(tree: Mapping[str, Any]) -> dict:
  return dict(tree.items())


def scan_params(params: Mapping[str, Any], config: T5Config) -> dict:
  """`encoder/layers_{i}/...` -> `encoder/layers/...` stacked on a new leading axis."""
  out = _as_dict(params)
  for stack in STACKS:
    if stack not in out:
      raise ValueError(f"params have no '{stack}' subtree (keys: {sorted(out)})")
    tree = _as_dict(out[stack])
    if "layers" in tree:
      raise ValueError(f"params '{stack}/layers' exists already: these params are scanned")
    n = _num_layers(config, stack)
    names = [f"layers_{i}" for i in range(n)]
    missing = [name for name in names if name not in tree]
    if missing:
      raise ValueError(f"params lack {stack}/{missing[0]} (config has {n} {stack} layers)")
    extra = sorted(k for k in tree if k.startswith("layers_") and k not in names)
    if extra:
      raise ValueError(f"params have {stack}/{extra[0]} beyond the config's {n} {stack} layers")
    layers = [tree.pop(name) for name in names]
    try:
      tree["layers"] = jax.tree_util.tree_map(_stack_leaves, *layers, is_leaf=_is_box)
    except ValueError as e:
      raise ValueError(f"{stack} layers have different parameter structures or shapes: {e}") from e
    out[stack] = tree
  return out


def unscan_params(params: Mapping[str, Any], config: T5Config) -> dict:
  """`encoder/layers/...` (leading layers axis) -> `encoder/layers_{i}/...`."""
  out = _as_dict(params)
  for stack in STACKS:
    if stack not in out:
      raise ValueError(f"params have no '{stack}' subtree (keys: {sorted(out)})")
    tree = _as_dict(out[stack])
    if "layers" not in tree:
      raise ValueError(f"params have no '{stack}/layers': these params are not scanned")
    stacked = tree.pop("layers")
    n = _num_layers(config, stack)
    for path, leaf in jax.tree_util.tree_leaves_with_path(stacked, is_leaf=_is_box):
      value = leaf.value if _is_box(leaf) else leaf
      if value.shape[:1] != (n,):
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        raise ValueError(f"{stack}/layers/{name} has shape {value.shape}, "
                         f"expected a leading axis of {n} layers")
    for i in range(n):
      tree[f"layers_{i}"] = jax.tree_util.tree_map(lambda leaf, i=i: _unstack_leaf(leaf, i),
                                                   stacked, is_leaf=_is_box)
    out[stack] = tree
  return out
