"""The size table, get_config and the gin/models/t5_1_1 files."""
import functools
import pathlib

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.models import SIZES, Transformer, get_config
from flan.models.config import T5Config

GIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "gin" / "models" / "t5_1_1"

# d_model, d_ff, heads, d_kv, encoder/decoder layers (DESIGN.md, T5 v1.1).
T5_1_1 = {
    "small": (512, 1024, 6, 64, 8),
    "base": (768, 2048, 12, 64, 12),
    "large": (1024, 2816, 16, 64, 24),
    "xl": (2048, 5120, 32, 64, 24),
    "xxl": (4096, 10240, 64, 64, 24),
}


@pytest.mark.parametrize("size", sorted(T5_1_1))
def test_size_table(size):
  cfg = get_config(size)
  emb, mlp, heads, head_dim, layers = T5_1_1[size]
  assert (cfg.emb_dim, cfg.mlp_dim, cfg.num_heads, cfg.head_dim) == (emb, mlp, heads, head_dim)
  assert cfg.num_encoder_layers == cfg.num_decoder_layers == layers
  assert cfg.vocab_size == 32128 and cfg.feed_forward == "gated-gelu"
  assert not cfg.logits_via_embedding
  assert (cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance) == (32, 128)
  assert cfg.layer_norm_epsilon == 1e-6 and cfg.dtype == "bfloat16"


@pytest.mark.parametrize("size, count", [("small", 76_961_152), ("base", 247_577_856)])
def test_parameter_counts_match_published_t5_1_1(size, count):
  # google/t5-v1_1-small and -base parameter counts (Hugging Face model cards).
  tokens = jnp.ones((1, 2), jnp.int32)
  shapes = jax.eval_shape(functools.partial(Transformer(get_config(size)).init,
                                            jax.random.PRNGKey(0)), tokens, tokens)
  assert sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(shapes)) == count


def test_overrides_and_errors():
  cfg = get_config("base", dropout_rate=0.05, dtype="float32", scan_layers=True)
  assert cfg.dropout_rate == 0.05 and cfg.dtype == "float32" and cfg.scan_layers
  with pytest.raises(ValueError, match="unknown model size 'huge'.*tiny, small, base"):
    get_config("huge")
  with pytest.raises(ValueError, match=r"unknown T5Config fields \['d_model'\]"):
    get_config("base", d_model=3)
  with pytest.raises(ValueError, match="feed_forward must be one of"):
    get_config("tiny", feed_forward="swiglu")
  with pytest.raises(ValueError, match="attention_impl must be one of"):
    get_config("tiny", attention_impl="flash")
  with pytest.raises(ValueError, match="emb_dim must be a positive int"):
    get_config("tiny", emb_dim=0)
  with pytest.raises(ValueError, match="dtype must be one of"):
    get_config("tiny", dtype="float64")
  with pytest.raises(ValueError, match="unknown T5Config fields"):
    get_config("tiny").replace(foo=1)


def test_config_is_frozen_and_hashable():
  cfg = get_config("tiny")
  with pytest.raises(Exception):
    cfg.emb_dim = 3  # type: ignore[misc]
  assert hash(cfg) == hash(get_config("tiny"))
  assert isinstance(cfg, T5Config)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_gin_file_gives_the_size(size):
  gin.clear_config()
  try:
    gin.parse_config_file(str(GIN_DIR / f"{size}.gin"))
    assert get_config() == get_config(size=size) == T5Config(**SIZES[size])
  finally:
    gin.clear_config()


def test_gin_bindings_override_fields():
  gin.clear_config()
  try:
    gin.parse_config_files_and_bindings(
        [str(GIN_DIR / "xl.gin")], ["get_config.dropout_rate = 0.05", "get_config.remat = True"])
    cfg = get_config()
    assert (cfg.emb_dim, cfg.dropout_rate, cfg.remat) == (2048, 0.05, "full")  # True names "full"
  finally:
    gin.clear_config()
