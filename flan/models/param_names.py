"""Names and shapes of the unscanned parameter tree (the T5X layout in CONTRACTS.md), for checkpoint I/O.

Checkpoint readers and writers work on flat dicts {"encoder/layers_0/mlp/wo/kernel": array}; `unflatten`
turns one into the nested dict that `Transformer.apply({"params": ...})` takes.
"""
from typing import Any, Callable, Mapping

import numpy as np

SEPARATOR = "/"


def flatten(tree: Mapping[str, Any], prefix: str = "",
            is_leaf: Callable[[Any], bool] = lambda value: False) -> dict[str, Any]:
  """Nested mappings -> {"a/b/c": leaf}; mappings for which `is_leaf` holds are kept whole."""
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{SEPARATOR}{key}" if prefix else str(key)
    if isinstance(value, Mapping) and not is_leaf(value):
      flat.update(flatten(value, name, is_leaf))
    else:
      flat[name] = value
  return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for name, value in flat.items():
    node = tree
    *parents, leaf = name.split(SEPARATOR)
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree


def _attention(prefix, emb, joined):
  return {
      f"{prefix}/query/kernel": (emb, joined),
      f"{prefix}/key/kernel": (emb, joined),
      f"{prefix}/value/kernel": (emb, joined),
      f"{prefix}/out/kernel": (joined, emb),
  }


def _mlp(prefix, config):
  emb, mlp = config.emb_dim, config.mlp_dim
  if config.feed_forward == "relu":
    return {f"{prefix}/wi/kernel": (emb, mlp), f"{prefix}/wo/kernel": (mlp, emb)}
  return {f"{prefix}/wi_0/kernel": (emb, mlp), f"{prefix}/wi_1/kernel": (emb, mlp),
          f"{prefix}/wo/kernel": (mlp, emb)}


def expected_shapes(config) -> dict[str, tuple[int, ...]]:
  """Flat name -> shape of every parameter of `config`'s unscanned tree."""
  emb = config.emb_dim
  joined = config.num_heads * config.head_dim
  relpos = (config.num_heads, config.relative_attention_num_buckets)
  shapes = {"token_embedder/embedding": (config.vocab_size, emb),
            "encoder/relpos_bias/rel_embedding": relpos,
            "encoder/encoder_norm/scale": (emb,),
            "decoder/relpos_bias/rel_embedding": relpos,
            "decoder/decoder_norm/scale": (emb,)}
  for i in range(config.num_encoder_layers):
    layer = f"encoder/layers_{i}"
    shapes[f"{layer}/pre_attention_layer_norm/scale"] = (emb,)
    shapes.update(_attention(f"{layer}/attention", emb, joined))
    shapes[f"{layer}/pre_mlp_layer_norm/scale"] = (emb,)
    shapes.update(_mlp(f"{layer}/mlp", config))
  for i in range(config.num_decoder_layers):
    layer = f"decoder/layers_{i}"
    shapes[f"{layer}/pre_self_attention_layer_norm/scale"] = (emb,)
    shapes.update(_attention(f"{layer}/self_attention", emb, joined))
    shapes[f"{layer}/pre_cross_attention_layer_norm/scale"] = (emb,)
    shapes.update(_attention(f"{layer}/encoder_decoder_attention", emb, joined))
    shapes[f"{layer}/pre_mlp_layer_norm/scale"] = (emb,)
    shapes.update(_mlp(f"{layer}/mlp", config))
  if not config.logits_via_embedding:
    shapes["decoder/logits_dense/kernel"] = (emb, config.vocab_size)
  return shapes


def check_params(flat: Mapping[str, Any], config, source: str) -> None:
  """Raises ValueError naming the first missing, unexpected or wrongly shaped parameter."""
  expected = expected_shapes(config)
  missing = [name for name in expected if name not in flat]
  if missing:
    raise ValueError(f"{source}: missing parameter {missing[0]!r}"
                     + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
  unexpected = sorted(set(flat) - set(expected))
  if unexpected:
    raise ValueError(f"{source}: unexpected parameter {unexpected[0]!r} for this config"
                     + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
  for name, shape in expected.items():
    got = tuple(np.shape(flat[name]))
    if got != shape:
      raise ValueError(f"{source}: parameter {name!r} has shape {got}, expected {shape}")
