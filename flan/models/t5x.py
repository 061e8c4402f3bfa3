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
