"""Parameter names and shapes of the decoder-only network, and conversion between its unscanned layout
(`layers_{i}`, used by checkpoint import/export) and the scanned one (`layers` with a leading layer axis)."""
from typing import Any, Mapping

import flax.linen as nn
import jax
import numpy as np

from flan.models import param_names
from flan.models.decoder_config import DecoderConfig


def expected_shapes(config: DecoderConfig) -> dict[str, tuple[int, ...]]:
  """Flat name -> shape of every parameter of the unscanned tree."""
  emb, mlp = config.emb_dim, config.mlp_dim
  q, kv = config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim
  shapes = {"token_embedder/embedding": (config.vocab_size, emb), "decoder_norm/scale": (emb,)}
  for i in range(config.num_layers):
    p = f"layers_{i}"
    shapes.update({f"{p}/pre_attention_norm/scale": (emb,),
                   f"{p}/attention/query/kernel": (emb, q), f"{p}/attention/key/kernel": (emb, kv),
                   f"{p}/attention/value/kernel": (emb, kv), f"{p}/attention/out/kernel": (q, emb),
                   f"{p}/mlp/wi_0/kernel": (emb, mlp), f"{p}/mlp/wi_1/kernel": (emb, mlp),
                   f"{p}/mlp/wo/kernel": (mlp, emb)})
    if not config.parallel_block:
      shapes[f"{p}/pre_mlp_norm/scale"] = (emb,)
  if not config.tie_embeddings:
    shapes["logits_dense/kernel"] = (emb, config.vocab_size)
  return shapes


def _unbox(leaf):
  return leaf.value if isinstance(leaf, nn.Partitioned) else leaf


def flat_unscanned(config: DecoderConfig, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """{name: numpy array} of a (possibly scanned, possibly boxed) parameter tree, checked against config."""
  params = params.get("params", params)
  if "layers" in params:
    params = unscan_params(params, config)
  flat = {name: np.asarray(jax.device_get(_unbox(leaf))) for name, leaf in param_names.flatten(
      params, is_leaf=lambda x: isinstance(x, nn.Partitioned)).items()}
  expected = expected_shapes(config)
  missing = sorted(set(expected) - set(flat))
  extra = sorted(set(flat) - set(expected))
  if missing or extra:
    raise ValueError(f"params do not match the decoder config: missing {missing[:3]}, unexpected {extra[:3]}")
  for name, shape in expected.items():
    if tuple(flat[name].shape) != shape:
      raise ValueError(f"parameter {name} has shape {tuple(flat[name].shape)}, the config says {shape}")
  return flat


def scan_params(params: Mapping[str, Any], config: DecoderConfig) -> dict:
  """`layers_{i}/...` -> `layers/...` stacked on a new leading axis (numpy or jax leaves, unboxed)."""
  out = dict(params)
  names = [f"layers_{i}" for i in range(config.num_layers)]
  missing = [n for n in names if n not in out]
  if "layers" in out or missing:
    raise ValueError(f"params are not an unscanned tree of {config.num_layers} layers "
                     f"({'has layers' if 'layers' in out else f'lacks {missing[0]}'})")
  layers = [out.pop(n) for n in names]
  out["layers"] = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *layers)
  return out


def unscan_params(params: Mapping[str, Any], config: DecoderConfig) -> dict:
  """`layers/...` (leading layer axis) -> `layers_{i}/...`."""
  out = dict(params)
  if "layers" not in out:
    raise ValueError("params have no 'layers': they are not scanned")
  stacked = jax.tree.map(_unbox, out.pop("layers"), is_leaf=lambda x: isinstance(x, nn.Partitioned))
  for leaf in jax.tree.leaves(stacked):
    if leaf.shape[:1] != (config.num_layers,):
      raise ValueError(f"scanned parameter of shape {leaf.shape} lacks a leading axis of {config.num_layers} layers")
  for i in range(config.num_layers):
    out[f"layers_{i}"] = jax.tree.map(lambda x, i=i: x[i], stacked)
  return out
