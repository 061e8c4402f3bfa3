"""Tiny T5 configs and parameters for the model tests, made without compiling initializers
(jax.eval_shape gives the tree; numpy fills it), plus cached jitted forward passes."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flan.models import Transformer, get_config

VOCAB = 64


def tiny(**overrides):
  return get_config("tiny", **{"vocab_size": VOCAB, "dtype": "float32", **overrides})


def boxed_shapes(cfg):
  tokens = jnp.ones((1, 4), jnp.int32)
  return jax.eval_shape(functools.partial(Transformer(cfg).init, jax.random.PRNGKey(0)),
                        tokens, tokens)["params"]


def random_params(cfg, seed=0):
  """float32 numpy params in the model's layout, random everywhere (norm scales and
  position biases too, so that every parameter matters), T5-like magnitudes."""
  rng = np.random.RandomState(seed)

  def one(path, shape):
    name = jax.tree_util.keystr(path)
    if "scale" in name:
      value = 1.0 + 0.2 * rng.randn(*shape.shape)
    elif "rel_embedding" in name:
      value = 0.5 * rng.randn(*shape.shape)
    elif "embedding" in name:
      value = rng.randn(*shape.shape)
    else:
      fan_in = shape.shape[-2]
      value = rng.randn(*shape.shape) / np.sqrt(fan_in)
      if "query" in name:
        value = value / np.sqrt(cfg.head_dim)
    return value.astype(np.float32)

  return jax.tree_util.tree_map_with_path(one, nn.unbox(boxed_shapes(cfg)))


@functools.lru_cache(maxsize=None)
def jitted(cfg, method="__call__", **static):
  """jax.jit of Transformer(cfg).apply for a method, cached per config."""
  model = Transformer(cfg)
  fn = getattr(Transformer, method)
  return jax.jit(functools.partial(model.apply, method=fn, **dict(static)))


def random_tokens(rng, shape, vocab=VOCAB):
  return rng.randint(1, vocab, shape).astype(np.int32)
