"""The decoder-only network: masks, packing, prefix LM, PaLM options and Llama logits against references."""
import functools
import pathlib

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flan import partitioning
from flan.models import decoder_flops, decoder_layout, families, hf_llama, losses
from flan.models.decoder import DecoderOnly, attention_mask
from flan.models.decoder_config import DecoderConfig, get_decoder_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def tiny(**overrides):
  return get_decoder_config("tiny", **{"vocab_size": 64, "dtype": "float32", **overrides})


def init_params(config, seed=0):
  model = DecoderOnly(config)
  return nn.unbox(jax.jit(model.init)(jax.random.key(seed), *model.dummy_inputs())["params"])


@functools.partial(jax.jit, static_argnums=0)
def _jitted_logits(config, params, tokens, features):
  return DecoderOnly(config).apply({"params": params}, tokens, **features)


def logits(config, params, tokens, **features):
  features = {k: jnp.asarray(v, jnp.int32) for k, v in features.items()}
  return np.asarray(_jitted_logits(config, params, jnp.asarray(tokens, jnp.int32), features))


# ---- a float64 numpy reference of the whole network ------------------------------------------------------


def reference_mask(segment_ids, causal_attention):
  batch, length = segment_ids.shape
  mask = np.zeros((batch, length, length), bool)
  for b in range(batch):
    for q in range(length):
      for k in range(length):
        bidirectional = causal_attention[b, q] == 1 and causal_attention[b, k] == 1
        mask[b, q, k] = (k <= q or bidirectional) and segment_ids[b, q] == segment_ids[b, k]
  return mask


def reference_forward(config: DecoderConfig, params, tokens, positions, mask):
  """float64 numpy forward pass written from the definitions (rotate-half rotary, GQA, SwiGLU, RMSNorm)."""
  p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
  d, heads, kv_heads = config.head_dim, config.num_heads, config.num_kv_heads

  def norm(x, scale):
    return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + config.rms_norm_eps) * scale

  def rotary(x):  # x [b, l, h, d]
    freq = config.rope_theta ** (-np.arange(0, d, 2) / d)
    angle = positions[:, :, None, None] * np.concatenate([freq, freq])[None, None, None, :]
    rotated = np.concatenate([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * np.cos(angle) + rotated * np.sin(angle)

  def silu(x):
    return x / (1 + np.exp(-x))

  x = p["token_embedder"]["embedding"][tokens]
  b, l, _ = x.shape
  for i in range(config.num_layers):
    layer = p[f"layers_{i}"]
    h = norm(x, layer["pre_attention_norm"]["scale"])
    att = layer["attention"]
    q = rotary((h @ att["query"]["kernel"]).reshape(b, l, heads, d))
    k = rotary((h @ att["key"]["kernel"]).reshape(b, l, kv_heads, d))
    v = (h @ att["value"]["kernel"]).reshape(b, l, kv_heads, d)
    k, v = np.repeat(k, heads // kv_heads, 2), np.repeat(v, heads // kv_heads, 2)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d)
    scores = np.where(mask[:, None], scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    attended = np.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, l, heads * d) @ att["out"]["kernel"]
    mlp = layer["mlp"]
    if config.parallel_block:
      ff_in = h
    else:
      x = x + attended
      ff_in = norm(x, layer["pre_mlp_norm"]["scale"])
    ff = (silu(ff_in @ mlp["wi_0"]["kernel"]) * (ff_in @ mlp["wi_1"]["kernel"])) @ mlp["wo"]["kernel"]
    x = x + attended + ff if config.parallel_block else x + ff
  x = norm(x, p["decoder_norm"]["scale"])
  if config.tie_embeddings:
    scale = config.emb_dim ** -0.5 if config.scale_tied_logits else 1.0
    return (x * scale) @ p["token_embedder"]["embedding"].T
  return x @ p["logits_dense"]["kernel"]


# ---- masks -----------------------------------------------------------------------------------------------


def test_masks_match_the_reference_for_causal_packed_and_prefix_lm():
  segments = np.array([[1, 1, 1, 2, 2, 2, 2, 0], [1, 1, 1, 1, 1, 1, 0, 0]])
  prefix = np.array([[1, 1, 0, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0]])
  ones = np.ones_like(segments)
  zeros = np.zeros_like(segments)
  for seg, causal in ((ones, zeros), (segments, zeros), (segments, prefix), (ones, prefix)):
    got = np.asarray(attention_mask(8, jnp.asarray(seg), jnp.asarray(causal)))[:, 0]
    np.testing.assert_array_equal(got, reference_mask(seg, causal))
  # Without segment ids or a prefix the mask is plain causal.
  np.testing.assert_array_equal(np.asarray(attention_mask(8))[0, 0], np.tril(np.ones((8, 8), bool)))


@pytest.mark.parametrize("options", [dict(), dict(parallel_block=True, num_kv_heads=1, scale_tied_logits=True),
                                     dict(tie_embeddings=False, num_kv_heads=4, rope_theta=500000.0)])
def test_forward_matches_float64_reference_with_packing_and_prefix(options):
  config = tiny(**options)
  params = init_params(config)
  rng = np.random.default_rng(0)
  tokens = rng.integers(1, 64, (2, 10))
  segments = np.array([[1, 1, 1, 1, 2, 2, 2, 3, 3, 0], [1] * 10])
  positions = np.array([[0, 1, 2, 3, 0, 1, 2, 0, 1, 0], list(range(10))])
  prefix = np.array([[1, 1, 0, 0, 1, 0, 0, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]])
  ours = logits(config, params, tokens, decoder_segment_ids=segments, decoder_positions=positions,
                decoder_causal_attention=prefix)
  expected = reference_forward(config, params, tokens, positions, reference_mask(segments, prefix))
  np.testing.assert_allclose(ours, expected, atol=2e-5, rtol=1e-5)


def test_packed_rows_equal_each_example_alone():
  config = tiny()
  params = init_params(config)
  rng = np.random.default_rng(1)
  examples = [rng.integers(1, 64, n) for n in (5, 3, 4)]
  prefixes = [2, 1, 3]
  tokens = np.concatenate(examples + [np.zeros(2, int)])[None]
  segments = np.concatenate([np.full(len(e), i + 1) for i, e in enumerate(examples)] + [np.zeros(2, int)])[None]
  positions = np.concatenate([np.arange(len(e)) for e in examples] + [np.arange(2)])[None]
  prefix = np.concatenate([(np.arange(len(e)) < n).astype(int) for e, n in zip(examples, prefixes)]
                          + [np.zeros(2, int)])[None]
  for use_prefix in (False, True):
    packed = logits(config, params, tokens, decoder_segment_ids=segments, decoder_positions=positions,
                    **({"decoder_causal_attention": prefix} if use_prefix else {}))[0]
    start = 0
    for example, n in zip(examples, prefixes):
      alone_prefix = {"decoder_causal_attention": (np.arange(len(example)) < n)[None].astype(int)}
      alone = logits(config, params, example[None], **(alone_prefix if use_prefix else {}))[0]
      np.testing.assert_allclose(packed[start:start + len(example)], alone, atol=1e-5)
      start += len(example)


# ---- Llama golden logits and layout ----------------------------------------------------------------------


@pytest.mark.parametrize("name, impl", [("hf_tiny_llama", "xla"), ("hf_tiny_llama", "dot_product_attention"),
                                        ("hf_tiny_llama_tied", "xla"), ("hf_tiny_llama3", "dot_product_attention")])
def test_llama_logits_match_transformers(name, impl):
  config, params = hf_llama.import_llama(FIXTURES / name)
  golden = np.load(FIXTURES / name / "golden.npz")
  ours = logits(config.replace(dtype="float32", attention_impl=impl), params, golden["tokens"])
  error = np.max(np.abs(ours - golden["logits"]))
  assert error < 1e-4
  if config.rope_type != "default":  # the fixture exercises the scaling: without it the logits are further off
    unscaled = logits(config.replace(dtype="float32", rope_type="default"), params, golden["tokens"])
    assert np.max(np.abs(unscaled - golden["logits"])) > 50 * max(error, 1e-6)


def test_scanned_and_rematerialized_layers_compute_the_same_logits():
  config, params = hf_llama.import_llama(FIXTURES / "hf_tiny_llama")
  config = config.replace(dtype="float32")
  tokens = np.load(FIXTURES / "hf_tiny_llama" / "golden.npz")["tokens"]
  expected = logits(config, params, tokens)
  scanned_config = config.replace(scan_layers=True, remat=True)
  scanned = decoder_layout.scan_params(params, scanned_config)
  np.testing.assert_allclose(logits(scanned_config, scanned, tokens), expected, atol=1e-5)
  # Init of the scanned model has exactly this layout, with "layers" as the leading logical axis.
  boxed = partitioning.abstract_boxed_params(DecoderOnly(scanned_config))
  assert jax.tree.map(lambda x: x.shape, nn.unbox(boxed)) == jax.tree.map(lambda x: x.shape, scanned)
  assert boxed["layers"]["attention"]["query"]["kernel"].names == ("layers", "embed", "joined_kv")
  roundtrip = decoder_layout.unscan_params(scanned, config)
  jax.tree.map(np.testing.assert_array_equal, roundtrip, params)


def test_logical_axes_shard_heads_and_replicate_fewer_kv_heads():
  mesh = partitioning.make_mesh(data=2, model=4)
  for kv_heads, kv_spec in ((2, (None, None)), (4, (None, "model"))):
    config = tiny(num_kv_heads=kv_heads)
    shardings = partitioning.param_shardings(partitioning.abstract_boxed_params(DecoderOnly(config)), mesh)
    layer = shardings["layers_0"]
    assert tuple(layer["attention"]["query"]["kernel"].spec) == (None, "model")
    assert (tuple(layer["attention"]["key"]["kernel"].spec) + (None, None))[:2] == kv_spec
    assert tuple(layer["mlp"]["wi_0"]["kernel"].spec) == (None, "model")
    assert tuple(shardings["token_embedder"]["embedding"].spec)[:1] == ("model",)


def test_loss_and_a_train_step_on_a_2x4_mesh_equal_one_device():
  config = tiny(num_kv_heads=1, dropout_rate=0.1)
  model = DecoderOnly(config)
  params = init_params(config)
  rng = np.random.default_rng(2)
  tokens = rng.integers(1, 64, (4, 16)).astype(np.int32)
  batch = {"decoder_input_tokens": tokens, "decoder_target_tokens": np.roll(tokens, -1, axis=1),
           "decoder_loss_weights": (rng.random((4, 16)) > 0.3).astype(np.float32),
           "decoder_segment_ids": np.repeat([[1] * 10 + [2] * 6], 4, 0).astype(np.int32),
           "decoder_positions": np.repeat([list(range(10)) + list(range(6))], 4, 0).astype(np.int32),
           "decoder_causal_attention": (np.arange(16)[None] < np.array([[3], [5], [0], [8]])).astype(np.int32)}
  optimizer = optax.adafactor(1e-2)

  def train_step(p, b):
    def loss_fn(p):
      out = families.batch_logits(model, p, b, enable_dropout=True, rngs={"dropout": jax.random.key(7)})
      return losses.cross_entropy_loss(out, b["decoder_target_tokens"], b["decoder_loss_weights"])[0]
    loss, grads = jax.value_and_grad(loss_fn)(p)
    updates, _ = optimizer.update(grads, optimizer.init(p), p)
    return loss, optax.apply_updates(p, updates)

  expected_loss, expected_params = jax.jit(train_step)(params, batch)
  mesh = partitioning.make_mesh(data=2, model=4)
  placed = partitioning.place_params(params, model, mesh)
  sharded = {k: jax.device_put(v, partitioning.batch_sharding(mesh)) for k, v in batch.items()}
  with partitioning.mesh_context(mesh):
    loss, new_params = jax.jit(train_step)(placed, sharded)
  assert float(loss) == pytest.approx(float(expected_loss), rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5), new_params,
               expected_params)
  assert new_params["layers_0"]["mlp"]["wi_0"]["kernel"].sharding.spec[1] == "model"


# ---- config, sizes, gin, FLOPs ---------------------------------------------------------------------------


def test_bfloat16_activations_stay_close_to_float32():
  config = tiny()
  params = init_params(config)
  tokens = np.arange(1, 13)[None]
  full = logits(config, params, tokens)
  half = logits(config.replace(dtype="bfloat16"), params, tokens)
  assert half.dtype == np.float32
  assert np.max(np.abs(half - full)) < 0.1 * np.max(np.abs(full))


def test_config_rejects_bad_values():
  with pytest.raises(ValueError, match="num_kv_heads"):
    tiny(num_kv_heads=3)
  with pytest.raises(ValueError, match="head_dim"):
    tiny(head_dim=7)
  with pytest.raises(ValueError, match="unknown decoder size"):
    get_decoder_config("huge")
  with pytest.raises(ValueError, match="unknown DecoderConfig fields"):
    get_decoder_config("tiny", num_decoder_layers=2)
  with pytest.raises(ValueError, match="shape"):
    DecoderOnly(tiny()).init(jax.random.key(0), jnp.ones((1, 4), jnp.int32),
                             decoder_segment_ids=jnp.ones((1, 5), jnp.int32))


@pytest.mark.parametrize("size", ["tiny", "small", "palm_8b", "llama_7b"])
def test_gin_files_and_parameter_counts(size):
  gin.clear_config()
  try:
    gin.parse_config_file(str(ROOT / "gin" / "models" / "decoder" / f"{size}.gin"))
    config = get_decoder_config()  # pylint: disable=no-value-for-parameter
  finally:
    gin.clear_config()
  assert config == get_decoder_config(size)
  shapes = decoder_layout.expected_shapes(config)
  assert decoder_flops.num_params(config) == sum(int(np.prod(s)) for s in shapes.values())
  if size == "tiny":
    boxed = nn.unbox(partitioning.abstract_boxed_params(DecoderOnly(config)))
    assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(boxed)) == decoder_flops.num_params(config)
  expected_billions = {"small": (0.09, 0.13), "palm_8b": (7.5, 9.5), "llama_7b": (6.5, 7.0)}
  if size in expected_billions:
    low, high = expected_billions[size]
    assert low * 1e9 < decoder_flops.num_params(config) < high * 1e9


def test_flops_follow_the_six_n_rule_at_short_lengths():
  config = get_decoder_config("llama_7b")
  # At a short length the attention-score term is small: train FLOPs ~ 6 x params x tokens.
  flops = decoder_flops.train_step_flops(config, batch_size=1, length=128)
  assert flops == pytest.approx(6 * decoder_flops.num_params(config) * 128, rel=0.03)


@pytest.mark.parametrize("size", ["palm_8b", "llama_7b"])
def test_planning_sizes_shard_on_a_model_axis(size):
  config = get_decoder_config(size, scan_layers=True)
  mesh = partitioning.make_mesh(data=1, fsdp=2, model=4)
  boxed = partitioning.abstract_boxed_params(DecoderOnly(config))
  shardings = partitioning.param_shardings(boxed, mesh, partitioning.logical_rules(fsdp_embed=True))
  layers = shardings["layers"]
  assert tuple(layers["attention"]["query"]["kernel"].spec) == (None, "fsdp", "model")
  assert tuple(layers["mlp"]["wo"]["kernel"].spec) == (None, "model", "fsdp")
  assert tuple(shardings["token_embedder"]["embedding"].spec) == ("model", "fsdp")
  # PaLM's single key/value head is replicated over the model axis; Llama's 32 are split like the queries.
  key_spec = tuple(layers["attention"]["key"]["kernel"].spec) + (None,) * 3
  assert key_spec[:3] == ((None, "fsdp", None) if size == "palm_8b" else (None, "fsdp", "model"))
