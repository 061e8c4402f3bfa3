"""Device mesh, the logical-axis rules table, and parameter / batch shardings.

Layers name logical axes only ("batch", "embed", "heads", ...); `logical_rules` maps them
to the mesh axes ("data", "fsdp", "model"). Use the mesh with `jax.set_mesh(mesh)` and
the rules with `flax.linen.logical_axis_rules(rules)` around the jitted step.
"""
import contextlib
import math
from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from flan.errors import ConfigError

MESH_AXES = ("data", "fsdp", "model")
BATCH_MESH_AXES = ("data", "fsdp")


def resolve_mesh_shape(data: int, fsdp: int, model: int, num_devices: int) -> dict:
  """{"data", "fsdp", "model"} sizes with the one -1 axis filled by the remaining devices; the errors
  (flan.errors.ConfigError) name the sizes."""
  sizes = {"data": data, "fsdp": fsdp, "model": model}
  for name, size in sizes.items():
    if not isinstance(size, int) or isinstance(size, bool) or (size < 1 and size != -1):
      raise ConfigError(f"mesh axis {name}={size!r} must be a positive int or -1 (fill)")
  fill = [name for name, size in sizes.items() if size == -1]
  if len(fill) > 1:
    raise ConfigError(f"only one mesh axis may be -1, got {fill} in {sizes}")
  known = math.prod(size for size in sizes.values() if size != -1)
  if known > num_devices:
    raise ConfigError(f"mesh data={data} fsdp={fsdp} model={model} needs {known} devices but only "
                      f"{num_devices} are available")
  if fill:
    if num_devices % known:
      raise ConfigError(f"mesh {sizes}: {num_devices} devices do not divide by the product {known} of the "
                        f"fixed axes, so {fill[0]}=-1 cannot be filled")
    sizes[fill[0]] = num_devices // known
  return sizes


def make_mesh(data: int = -1, fsdp: int = 1, model: int = 1,
              devices: Optional[Sequence[Any]] = None) -> Mesh:
  """A ("data", "fsdp", "model") mesh; one size may be -1 to use the remaining devices."""
  devices = list(jax.devices() if devices is None else devices)
  sizes = resolve_mesh_shape(data, fsdp, model, len(devices))
  shape = tuple(sizes[name] for name in MESH_AXES)
  return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES),
                       devices=devices[:math.prod(shape)])


def logical_rules(fsdp_embed: bool = False):
  """The one logical-axis -> mesh-axis table (a tuple of pairs, flax's rules format)."""
  return (
      ("batch", BATCH_MESH_AXES),
      ("vocab", "model"),
      ("mlp", "model"),
      ("heads", "model"),
      ("joined_kv", "model"),
      ("kv", None),
      ("embed", "fsdp" if fsdp_embed else None),
      ("length", None),
      ("relpos_buckets", None),
      ("layers", None),
  )


def mesh_context(mesh: Optional[Mesh], rules=None) -> contextlib.ExitStack:
  """Context under which the model's logical constraints map to `mesh` (a no-op without a mesh).

  rules default to `logical_rules()`.
  """
  stack = contextlib.ExitStack()
  if mesh is not None:
    stack.enter_context(jax.set_mesh(mesh))
    stack.enter_context(nn.logical_axis_rules(logical_rules() if rules is None else rules))
  return stack


def _is_box(x):
  return isinstance(x, nn.Partitioned)


def _path_name(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def param_shardings(boxed_abstract_params: Mapping[str, Any], mesh: Mesh, rules=None):
  """NamedShardings for the unboxed parameter tree, from the boxes' logical names.

  Unboxed leaves are replicated. Raises ValueError naming the parameter when a sharded
  dimension does not divide by its mesh axes.
  """
  rules = logical_rules() if rules is None else rules

  def one(path, leaf):
    if not _is_box(leaf):
      return NamedSharding(mesh, PartitionSpec())
    spec = nn.logical_to_mesh_axes(leaf.names, rules)
    shape = leaf.value.shape
    _check_divides(_path_name(path), shape, spec, mesh)
    return NamedSharding(mesh, spec)

  return jax.tree_util.tree_map_with_path(one, boxed_abstract_params, is_leaf=_is_box)


def abstract_boxed_params(model):
  """Shapes of a flax model's parameters, still boxed with their logical axis names (nothing allocated,
  not even the init key: this also works for devices that cannot hold arrays, e.g. a TPU topology).

  The model gives its init arguments with `dummy_inputs()`."""
  return jax.eval_shape(lambda: model.init(jax.random.key(0), *model.dummy_inputs()))["params"]


def place_params(params, model, mesh: Optional[Mesh], rules=None):
  """The one way parameters reach devices: an unboxed tree (numpy or jax arrays) laid out on `mesh` by
  the logical axes `model` gives each parameter; on the default device when mesh is None.
  Host arrays go straight to their shards (no full copy on one device first)."""
  if mesh is None:
    return jax.device_put(params)
  shardings = param_shardings(abstract_boxed_params(model), mesh, rules)
  return jax.tree.map(lambda x, s: jax.device_put(x if isinstance(x, jax.Array) else np.asarray(x), s),
                      params, shardings)


def _check_divides(name: str, shape, spec: PartitionSpec, mesh: Mesh):
  for dim, (size, axes) in enumerate(zip(shape, tuple(spec) + (None,) * len(shape))):
    if axes is None:
      continue
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    parts = math.prod(mesh.shape[a] for a in axes)
    if size % parts:
      raise ValueError(f"parameter {name} dimension {dim} of size {size} does not divide by "
                       f"mesh axes {axes} of size {parts} (shape {tuple(shape)}, spec {spec})")


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Batch rows split over ("data", "fsdp"); other dimensions replicated."""
  return NamedSharding(mesh, PartitionSpec(BATCH_MESH_AXES))


def check_batch_size(batch_size: int, mesh: Mesh):
  """Raises ValueError unless the global batch divides by the batch mesh axes."""
  parts = math.prod(mesh.shape[a] for a in BATCH_MESH_AXES)
  if batch_size % parts:
    raise ValueError(f"batch size {batch_size} does not divide by the data x fsdp mesh size "
                     f"{parts} (mesh {dict(mesh.shape)})")


def describe_shardings(params: Mapping[str, Any], shardings: Mapping[str, Any]) -> str:
  """A table of parameter name, shape, dtype and mesh axes per dimension, one row each."""
  rows = []
  leaves = jax.tree_util.tree_leaves_with_path(params, is_leaf=_is_box)
  specs = jax.tree_util.tree_leaves(shardings,
                                    is_leaf=lambda x: isinstance(x, (NamedSharding,
                                                                     PartitionSpec)))
  if len(leaves) != len(specs):
    raise ValueError(f"params have {len(leaves)} leaves but shardings have {len(specs)}")
  for (path, leaf), sharding in zip(leaves, specs):
    value = leaf.value if _is_box(leaf) else leaf
    spec = sharding.spec if isinstance(sharding, NamedSharding) else sharding
    spec = tuple(spec) + (None,) * (len(value.shape) - len(spec))
    rows.append((_path_name(path), str(tuple(value.shape)), str(value.dtype), str(spec)))
  header = ("parameter", "shape", "dtype", "mesh axes")
  widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
  fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
  lines = [fmt(header), fmt(tuple("-" * w for w in widths))] + [fmt(r) for r in rows]
  return "\n".join(lines)
