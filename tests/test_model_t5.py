"""T5 network behaviour: shapes and dtypes, logical names, packing, attention paths,
scan/remat equivalence, cached decoding and input errors."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from flan.models import Transformer, get_config
from flan.models.attention import query_kernel_init
from flan.models.layout import scan_params
from model_tiny import VOCAB, boxed_shapes, jitted, random_params, random_tokens, tiny

LOGICAL_AXES = {"batch", "length", "embed", "mlp", "heads", "kv", "joined_kv", "vocab",
                "relpos_buckets", "layers"}
PARAMS = random_params(tiny(), seed=0)


def test_output_shapes_and_dtypes_bfloat16_default():
  cfg = get_config("tiny", vocab_size=VOCAB)
  assert cfg.dtype == "bfloat16"
  enc = random_tokens(np.random.RandomState(0), (3, 10))
  dec = random_tokens(np.random.RandomState(1), (3, 6))
  logits = jitted(cfg)({"params": PARAMS}, enc, dec)
  assert logits.shape == (3, 6, VOCAB) and logits.dtype == jnp.float32
  encoded = jitted(cfg, "encode")({"params": PARAMS}, enc)
  assert encoded.shape == (3, 10, 32) and encoded.dtype == jnp.bfloat16
  # bfloat16 activations stay close to the float32 network with the same parameters.
  full = np.asarray(jitted(tiny())({"params": PARAMS}, enc, dec))
  assert np.abs(np.asarray(logits) - full).max() < 0.05 * np.abs(full).max()


def test_init_creates_float32_params_with_the_layout_of_boxed_shapes():
  cfg = tiny(num_encoder_layers=1, num_decoder_layers=1)
  tokens = jnp.ones((1, 3), jnp.int32)
  params = nn.unbox(Transformer(cfg).init(jax.random.PRNGKey(0), tokens, tokens)["params"])
  shapes = jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), params)
  assert shapes == jax.tree_util.tree_map(lambda x: (x.shape, x.dtype),
                                          nn.unbox(boxed_shapes(cfg)))
  assert {x.dtype for x in jax.tree_util.tree_leaves(params)} == {np.dtype("float32")}


@pytest.mark.parametrize("scan_layers", [False, True])
def test_every_parameter_has_logical_names(scan_layers):
  leaves = flatten_dict(boxed_shapes(tiny(scan_layers=scan_layers)))
  for path, leaf in leaves.items():
    name = "/".join(path)
    assert isinstance(leaf, nn.Partitioned), name
    assert len(leaf.names) == len(leaf.value.shape), name
    assert set(leaf.names) <= LOGICAL_AXES, name
    assert (leaf.names[0] == "layers") == ("layers" in path), name


def test_parameter_tree_is_the_t5x_layout():
  names = {"/".join(k): v.shape for k, v in flatten_dict(PARAMS).items()}
  expected = {
      "token_embedder/embedding": (VOCAB, 32),
      "encoder/relpos_bias/rel_embedding": (4, 32),
      "encoder/encoder_norm/scale": (32,),
      "decoder/relpos_bias/rel_embedding": (4, 32),
      "decoder/decoder_norm/scale": (32,),
      "decoder/logits_dense/kernel": (32, VOCAB),
  }
  for i in range(2):
    enc, dec = f"encoder/layers_{i}/", f"decoder/layers_{i}/"
    expected.update({enc + "pre_attention_layer_norm/scale": (32,),
                     enc + "pre_mlp_layer_norm/scale": (32,)})
    for part in ("query", "key", "value", "out"):
      expected[enc + f"attention/{part}/kernel"] = (32, 32)
      expected[dec + f"self_attention/{part}/kernel"] = (32, 32)
      expected[dec + f"encoder_decoder_attention/{part}/kernel"] = (32, 32)
    for prefix in (enc, dec):
      expected[prefix + "mlp/wi_0/kernel"] = (32, 64)
      expected[prefix + "mlp/wi_1/kernel"] = (32, 64)
      expected[prefix + "mlp/wo/kernel"] = (64, 32)
    for norm in ("pre_self_attention_layer_norm", "pre_cross_attention_layer_norm",
                 "pre_mlp_layer_norm"):
      expected[dec + norm + "/scale"] = (32,)
  assert names == expected


def test_original_t5_variant_layout():
  names = {"/".join(k) for k in flatten_dict(
      boxed_shapes(tiny(feed_forward="relu", logits_via_embedding=True)))}
  assert "decoder/logits_dense/kernel" not in names
  assert {"encoder/layers_0/mlp/wi/kernel", "encoder/layers_0/mlp/wo/kernel"} <= names
  assert not any("wi_0" in n for n in names)


def test_query_init_folds_attention_scaling():
  kernel = query_kernel_init(64)(jax.random.PRNGKey(0), (256, 256))
  # fan-in normal (std 1/sqrt(256)) divided by sqrt(head_dim=64).
  assert abs(float(jnp.std(kernel)) - 1 / 128) < 0.0005


def _pack(examples, enc_len, dec_len):
  """One packed row from [(enc_tokens, dec_tokens)]: tokens, segment ids, positions."""
  row = {k: np.zeros(n, np.int32) for k, n in [
      ("encoder_input_tokens", enc_len), ("encoder_segment_ids", enc_len),
      ("encoder_positions", enc_len), ("decoder_input_tokens", dec_len),
      ("decoder_segment_ids", dec_len), ("decoder_positions", dec_len)]}
  spans, e0, d0 = [], 0, 0
  for segment, (enc, dec) in enumerate(examples, start=1):
    for prefix, tokens, start in (("encoder", enc, e0), ("decoder", dec, d0)):
      stop = start + len(tokens)
      row[f"{prefix}_input_tokens"][start:stop] = tokens
      row[f"{prefix}_segment_ids"][start:stop] = segment
      row[f"{prefix}_positions"][start:stop] = np.arange(len(tokens))
    spans.append((d0, d0 + len(dec)))
    e0, d0 = e0 + len(enc), d0 + len(dec)
  return row, spans


def _packed_batch(rng):
  examples = [(random_tokens(rng, (n,)), np.concatenate([[0], random_tokens(rng, (m - 1,))]))
              for n, m in [(7, 5), (20, 9), (4, 3)]]
  rows = [_pack(examples, 36, 20), _pack(examples[::-1], 36, 20)]
  batch = {k: np.stack([r[0][k] for r in rows]) for k in rows[0][0]}
  placed = [list(zip(examples, rows[0][1])), list(zip(examples[::-1], rows[1][1]))]
  return batch, placed


@pytest.mark.parametrize("attention_impl", ["xla", "dot_product_attention"])
def test_packed_example_gives_the_same_logits_as_alone(attention_impl):
  cfg = tiny(attention_impl=attention_impl)
  batch, placed = _packed_batch(np.random.RandomState(2))
  logits = np.asarray(jitted(cfg)({"params": PARAMS}, **batch))
  # each example alone, right-padded to one common length.
  examples = [example for example, _ in placed[0]]
  enc = np.zeros((3, 20), np.int32)
  dec = np.zeros((3, 9), np.int32)
  for i, (e, d) in enumerate(examples):
    enc[i, :len(e)], dec[i, :len(d)] = e, d
  alone = np.asarray(jitted(cfg)({"params": PARAMS}, enc, dec))
  for row in range(2):
    for (example, (start, stop)) in placed[row]:
      i = next(j for j, e in enumerate(examples) if e is example)
      np.testing.assert_allclose(logits[row, start:stop], alone[i, :stop - start],
                                 atol=1e-5, rtol=1e-5)
  # without segment ids the examples see each other: the comparison above is not vacuous.
  unsegmented = np.asarray(jitted(cfg)({"params": PARAMS}, batch["encoder_input_tokens"],
                                       batch["decoder_input_tokens"]))
  start, stop = placed[0][1][1]
  assert np.abs(unsegmented[0, start:stop] - logits[0, start:stop]).max() > 1e-3


def test_attention_paths_agree():
  rng = np.random.RandomState(4)
  packed, _ = _packed_batch(rng)
  unpacked = {"encoder_input_tokens": random_tokens(rng, (2, 11)),
              "decoder_input_tokens": random_tokens(rng, (2, 7))}
  unpacked["encoder_input_tokens"][0, 8:] = 0
  for inputs in (packed, unpacked):
    xla = jitted(tiny(attention_impl="xla"))({"params": PARAMS}, **inputs)
    fused = jitted(tiny(attention_impl="dot_product_attention"))({"params": PARAMS}, **inputs)
    np.testing.assert_allclose(np.asarray(xla), np.asarray(fused), atol=1e-5, rtol=1e-5)


def test_scanned_and_rematerialized_layers_equal_plain_ones():
  rng = np.random.RandomState(5)
  enc, dec = random_tokens(rng, (2, 9)), random_tokens(rng, (2, 5))
  targets = random_tokens(rng, (2, 5))

  def loss_and_grads(cfg, params):
    def loss(p):
      logits = Transformer(cfg).apply({"params": p}, enc, dec)
      return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1))
    return jax.jit(jax.value_and_grad(loss))(params)

  want_loss, want_grads = loss_and_grads(tiny(), PARAMS)
  for cfg in (tiny(remat=True), tiny(scan_layers=True, remat=True)):
    params = scan_params(PARAMS, cfg) if cfg.scan_layers else PARAMS
    got_loss, got_grads = loss_and_grads(cfg, params)
    np.testing.assert_allclose(float(got_loss), float(want_loss), rtol=1e-6)
    if cfg.scan_layers:
      want = scan_params(want_grads, cfg)
    else:
      want = want_grads
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), got_grads, want)


@pytest.mark.parametrize("scan_layers", [False, True])
def test_cached_decoding_equals_full_forward(scan_layers):
  cfg = tiny(scan_layers=scan_layers)
  model = Transformer(cfg)
  params = scan_params(PARAMS, cfg) if scan_layers else PARAMS
  rng = np.random.RandomState(7)
  enc = random_tokens(rng, (2, 10))
  enc[1, 6:] = 0
  dec = np.concatenate([np.zeros((2, 1), np.int32), random_tokens(rng, (2, 19))], axis=1)
  length = dec.shape[1]
  full = np.asarray(jitted(cfg)({"params": params}, enc, dec))
  encoded = jitted(cfg, "encode")({"params": params}, enc)
  # creating the cache projects the cross-attention keys/values of `encoded` once.
  _, created = model.apply({"params": params}, encoded, enc, np.zeros_like(dec), decode=True,
                           max_decode_length=length, method=Transformer.decode, mutable=["cache"])
  cache = created["cache"]
  lead = (2,) if scan_layers else ()
  layer = cache["decoder"]["layers" if scan_layers else "layers_0"]["self_attention"]
  assert layer["cached_key"].shape == lead + (2, 4, length, 8)  # [batch, heads, length, head_dim]
  assert layer["cache_index"].shape == lead
  np.testing.assert_array_equal(layer["cached_key"], 0)
  cross = cache["decoder"]["layers" if scan_layers else "layers_0"]["encoder_decoder_attention"]
  assert cross["cached_key"].shape == lead + (2, 4, 10, 8)
  assert np.abs(np.asarray(cross["cached_key"])).max() > 0

  @jax.jit
  def step(cache, encoded, token):
    # without max_decode_length the decoder reads the length from the cache.
    logits, state = model.apply({"params": params, "cache": cache}, encoded, enc, token,
                                decode=True, max_decode_length=None if scan_layers else length,
                                mutable=["cache"],
                                method=Transformer.decode)
    return logits, state["cache"]

  for t in range(length):
    # cross-attention keys/values come from the cache, not from the encoded input.
    logits, cache = step(cache, jnp.zeros_like(encoded), dec[:, t:t + 1])
    np.testing.assert_allclose(np.asarray(logits)[:, 0], full[:, t], atol=1e-5, rtol=1e-5,
                               err_msg=f"step {t}")


def test_dropout():
  rng = np.random.RandomState(8)
  enc, dec = random_tokens(rng, (2, 9)), random_tokens(rng, (2, 5))
  base = np.asarray(jitted(tiny())({"params": PARAMS}, enc, dec))
  cfg = tiny(dropout_rate=0.3)
  np.testing.assert_array_equal(jitted(cfg)({"params": PARAMS}, enc, dec), base)
  run = lambda seed: np.asarray(jitted(cfg, enable_dropout=True)(
      {"params": PARAMS}, enc, dec, rngs={"dropout": jax.random.PRNGKey(seed)}))
  np.testing.assert_array_equal(run(1), run(1))
  assert np.abs(run(1) - base).max() > 1e-2
  assert np.abs(run(1) - run(2)).max() > 1e-2
  fused = Transformer(tiny(dropout_rate=0.3, attention_impl="dot_product_attention"))
  with pytest.raises(ValueError, match="cannot apply dropout to attention weights"):
    jax.eval_shape(lambda: fused.apply({"params": PARAMS}, enc, dec, enable_dropout=True,
                                       rngs={"dropout": jax.random.PRNGKey(0)}))


@pytest.mark.parametrize("kwargs, message", [
    (dict(encoder_input_tokens=np.ones((2, 5), np.float32)), "encoder_input_tokens must be an "
     "integer array"),
    (dict(decoder_input_tokens=np.ones((2,), np.int32)), "decoder_input_tokens must be"),
    (dict(encoder_segment_ids=np.ones((2, 4), np.int32),
          decoder_segment_ids=np.ones((2, 3), np.int32)), "encoder_segment_ids has shape"),
    (dict(encoder_segment_ids=np.ones((2, 5), np.int32)), "need both encoder_segment_ids"),
    (dict(decoder_positions=np.ones((2, 4), np.int32)), "decoder_positions has shape"),
])
def test_bad_inputs_name_the_feature(kwargs, message):
  inputs = {"encoder_input_tokens": np.ones((2, 5), np.int32),
            "decoder_input_tokens": np.ones((2, 3), np.int32), **kwargs}
  with pytest.raises(ValueError, match=message):
    jax.eval_shape(lambda: Transformer(tiny()).apply({"params": PARAMS}, **inputs))
