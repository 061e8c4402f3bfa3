"""T5X checkpoints -> flan's T5Config and parameters.

Both layouts T5X writes are read: a msgpack `checkpoint` file with the arrays inline, and the msgpack file
with tensorstore specs in place of arrays whose data sits in zarr directories next to it (the layout of the
published T5 v1.1 / Flan-T5 checkpoints). Parameters live under optimizer/target with the names flan uses;
the config is inferred from their shapes.
"""
import os
import pathlib
import re
from typing import Any, Mapping

import numpy as np

from flan.models import param_names
from flan.errors import InputError
from flan.models.config import T5Config
from flan.models.msgpack_tree import read_msgpack_tree
from flan.models.zarr_reader import is_tensorstore_spec, read_zarr_array

CHECKPOINT_FILE = "checkpoint"
SUPPORTED_VERSIONS = (2, 3)
_LAYER = re.compile(r"^(encoder|decoder)/layers_(\d+)/")


def checkpoint_file(path: os.PathLike | str) -> pathlib.Path:
  """The msgpack file of a T5X checkpoint given the file itself or its `checkpoint_N` directory."""
  path = pathlib.Path(path)
  if path.is_dir():
    if not (path / CHECKPOINT_FILE).is_file():
      raise FileNotFoundError(f"{path}: no T5X '{CHECKPOINT_FILE}' file in this directory")
    return path / CHECKPOINT_FILE
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such T5X checkpoint file or directory")
  return path


def read_t5x_target(path: os.PathLike | str) -> dict[str, np.ndarray]:
  """Flat {name: array} of the model parameters (optimizer/target), arrays in their stored dtype."""
  file = checkpoint_file(path)
  tree = read_msgpack_tree(file)
  version = tree.get("version")
  if version is not None and version not in SUPPORTED_VERSIONS:
    raise ValueError(f"{file}: T5X checkpoint format version {version} is not supported "
                     f"(supported: {SUPPORTED_VERSIONS})")
  try:
    target = tree["optimizer"]["target"]
  except (KeyError, TypeError):
    raise ValueError(f"{file}: no parameters under 'optimizer/target' (keys: {sorted(tree)})") from None
  flat = {}
  for name, node in param_names.flatten(target, is_leaf=is_tensorstore_spec).items():
    if is_tensorstore_spec(node):
      flat[name] = read_zarr_array(node, file.parent)
    elif isinstance(node, np.ndarray):
      flat[name] = node
    else:
      raise ValueError(f"{file}: parameter {name!r} is neither an array nor a tensorstore spec "
                       f"({type(node).__name__})")
  return flat


def infer_config(flat: Mapping[str, np.ndarray], source: str) -> T5Config:
  """T5Config from parameter shapes (relative_attention_max_distance and eps keep T5's 128 and 1e-6)."""
  if any(name.startswith(("encoder/layers/", "decoder/layers/")) for name in flat):
    raise ValueError(f"{source}: scanned-layer T5X checkpoints (encoder/layers/...) are not supported; "
                     "export the checkpoint unscanned (layers_0, layers_1, ...)")

  def shape(name):
    if name not in flat:
      raise ValueError(f"{source}: missing parameter {name!r}")
    return np.shape(flat[name])

  vocab_size, emb_dim = shape("token_embedder/embedding")
  num_heads, num_buckets = shape("encoder/relpos_bias/rel_embedding")
  joined = shape("encoder/layers_0/attention/query/kernel")[1]
  if joined % num_heads:
    raise ValueError(f"{source}: query kernel width {joined} is not a multiple of {num_heads} heads "
                     "(from encoder/relpos_bias/rel_embedding)")
  gated = "encoder/layers_0/mlp/wi_0/kernel" in flat
  mlp_dim = shape("encoder/layers_0/mlp/wi_0/kernel" if gated else "encoder/layers_0/mlp/wi/kernel")[1]
  layers = {"encoder": set(), "decoder": set()}
  for name in flat:
    match = _LAYER.match(name)
    if match:
      layers[match.group(1)].add(int(match.group(2)))
  return T5Config(
      vocab_size=int(vocab_size), emb_dim=int(emb_dim), num_heads=int(num_heads),
      head_dim=int(joined // num_heads), mlp_dim=int(mlp_dim),
      num_encoder_layers=max(layers["encoder"]) + 1, num_decoder_layers=max(layers["decoder"], default=-1) + 1,
      relative_attention_num_buckets=int(num_buckets),
      feed_forward="gated-gelu" if gated else "relu",
      logits_via_embedding="decoder/logits_dense/kernel" not in flat)


def import_t5x(path: os.PathLike | str) -> tuple[T5Config, dict[str, Any]]:
  """Reads a T5X checkpoint -> (T5Config, nested float32 numpy params in flan's layout)."""
  source = str(checkpoint_file(path))
  flat = read_t5x_target(path)
  config = infer_config(flat, source)
  param_names.check_params(flat, config, source)
  return config, param_names.unflatten({k: np.asarray(v, np.float32) for k, v in flat.items()})


def read_t5x_tree(path: os.PathLike | str) -> dict[str, Any]:
  """The whole T5X checkpoint tree (optimizer state included) with every tensorstore spec read as an array."""
  file = checkpoint_file(path)

  def resolve(node):
    if is_tensorstore_spec(node):
      return read_zarr_array(node, file.parent)
    if isinstance(node, Mapping):
      return {k: resolve(v) for k, v in node.items()}
    return node

  return resolve(read_msgpack_tree(file))


# ------------------------------------------------------------------------------------ optimizer state
# T5X's Adafactor keeps per parameter {"v_row", "v_col", "v", "m"} under optimizer/state/param_states (unused
# entries are zeros of shape (1,)) and the update count under optimizer/state/step. For parameters of rank <= 2
# (every unscanned T5 parameter) it factors exactly as optax.scale_by_factored_rms does: d0 = the largest
# axis, d1 = the second largest, both >= min_dim_size_to_factor; v_row averages over d0 and v_col over d1. So
# each statistic maps onto optax's FactoredState under the same name, and the step onto its count (both
# decay with 1 - (count + 1) ** -decay_rate).
_UNUSED_SHAPE = (1,)


def _resolve_arrays(node, directory: pathlib.Path, where: str):
  if is_tensorstore_spec(node):
    return read_zarr_array(node, directory)
  if isinstance(node, Mapping):
    return {k: _resolve_arrays(v, directory, f"{where}/{k}") for k, v in node.items()}
  return node


def read_t5x_optimizer_state(path: os.PathLike | str) -> tuple[int, dict[str, dict[str, np.ndarray]]]:
  """(step, {parameter name: {"v_row", "v_col", "v", "m": array}}) of a T5X checkpoint's Adafactor state."""
  file = checkpoint_file(path)
  tree = read_msgpack_tree(file)
  try:
    state = tree["optimizer"]["state"]
    param_states = state["param_states"]
  except (KeyError, TypeError):
    raise InputError(f"{file}: no optimizer state (optimizer/state/param_states); the checkpoint holds "
                     "parameters only") from None
  if "step" not in state:
    raise InputError(f"{file}: optimizer state without a step (optimizer/state/step)")
  step = int(np.asarray(_resolve_arrays(state["step"], file.parent, "optimizer/state/step")))
  by_param = {}
  for name, node in param_names.flatten(param_states, is_leaf=is_tensorstore_spec).items():
    param, _, kind = name.rpartition("/")
    if kind not in ("v_row", "v_col", "v", "m"):
      raise InputError(f"{file}: optimizer/state/param_states/{name} is not an Adafactor statistic "
                       "(v_row, v_col, v, m): is this a T5X Adafactor checkpoint?")
    value = _resolve_arrays(node, file.parent, f"optimizer/state/param_states/{name}")
    by_param.setdefault(param, {})[kind] = np.asarray(value)
  if any(name.startswith(("encoder/layers/", "decoder/layers/")) for name in by_param):
    raise InputError(f"{file}: scanned-layer T5X optimizer state (encoder/layers/...) is not supported, as "
                     "scanned parameters are not; export the checkpoint unscanned (layers_0, layers_1, ...)")
  return step, by_param


def _expected_statistics(config: T5Config, factored: bool, min_dim_size_to_factor: int):
  """The FactoredState optax would build for the model's parameters (shapes only)."""
  import jax  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  from flan.models.t5 import Transformer  # pylint: disable=import-outside-toplevel
  from flan.partitioning import abstract_boxed_params  # pylint: disable=import-outside-toplevel
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  # The boxes' values, without the sharding constraint nn.unbox adds under a mesh's logical rules.
  params = jax.tree.map(lambda x: x.value if isinstance(x, nn.Partitioned) else x,
                        abstract_boxed_params(Transformer(config)),
                        is_leaf=lambda x: isinstance(x, nn.Partitioned))
  transform = optax.scale_by_factored_rms(factored=factored, min_dim_size_to_factor=min_dim_size_to_factor)
  return params, jax.eval_shape(transform.init, params)


def import_t5x_optimizer_state(path: os.PathLike | str, config: T5Config | None = None, *, factored=True,
                               min_dim_size_to_factor=128):
  """(step, optax FactoredState) from a T5X checkpoint's Adafactor state, for make_optimizer's first link.

  config: the model the state is for (default: inferred from the checkpoint's parameters). factored and
  min_dim_size_to_factor must be make_optimizer's. Arrays are float32 numpy in the parameters' tree; the
  count is the T5X step. Raises InputError naming the parameter when the stored statistics do not have the
  shapes optax expects (e.g. a checkpoint trained with another min_dim_size_to_factor) or hold momentum.
  """
  import optax  # pylint: disable=import-outside-toplevel
  file = checkpoint_file(path)
  step, stored = read_t5x_optimizer_state(file)
  if config is None:
    config = infer_config(read_t5x_target(file), str(file))
  params, expected = _expected_statistics(config, factored, min_dim_size_to_factor)
  expected_flat = {kind: param_names.flatten(getattr(expected, kind)) for kind in ("v_row", "v_col", "v")}
  names = sorted(param_names.flatten(params))
  missing = [n for n in names if n not in stored]
  if missing:
    raise InputError(f"{file}: no optimizer state for parameter(s) {missing[:5]} ({len(missing)} in all)")
  extra = sorted(set(stored) - set(names))
  if extra:
    raise InputError(f"{file}: optimizer state for parameter(s) the model lacks: {extra[:5]}")
  imported = {"v_row": {}, "v_col": {}, "v": {}}
  for name in names:
    statistics = stored[name]
    momentum = statistics.get("m")
    if momentum is not None and momentum.shape != _UNUSED_SHAPE:
      raise InputError(f"{file}: {name} has Adafactor momentum (m, beta1 set in T5X); flan's Adafactor state "
                       "import covers the second moments only")
    for kind in ("v_row", "v_col", "v"):
      want = tuple(expected_flat[kind][name].shape)
      if kind not in statistics:
        raise InputError(f"{file}: {name} has no {kind} in its Adafactor state")
      have = tuple(statistics[kind].shape)
      if have != want:
        layout = "factored (v_row/v_col)" if expected_flat["v"][name].shape == _UNUSED_SHAPE else "full (v)"
        raise InputError(f"{file}: {name}/{kind} has shape {have}, optax expects {want} ({layout} second "
                         f"moments with min_dim_size_to_factor={min_dim_size_to_factor}, factored={factored})")
      imported[kind][name] = np.asarray(statistics[kind], np.float32)
  return step, optax.FactoredState(count=np.asarray(step, np.int32),
                                   **{kind: param_names.unflatten(v) for kind, v in imported.items()})


def with_factored_state(optimizer_state, factored_state):
  """optimizer_state (make_optimizer's, from init) with its FactoredState replaced by factored_state."""
  import optax  # pylint: disable=import-outside-toplevel
  replaced = []

  def walk(node):
    if isinstance(node, optax.FactoredState):
      replaced.append(True)
      return factored_state
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
      return tuple(walk(child) for child in node)
    if isinstance(node, list):
      return [walk(child) for child in node]
    return node

  result = walk(optimizer_state)
  if len(replaced) != 1:
    raise ValueError(f"expected one optax FactoredState in the optimizer state, found {len(replaced)}")
  return result
