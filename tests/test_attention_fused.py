"""Shared relative bias, attention kernels (XLA, jax.nn.dot_product_attention, Pallas flash in TPU
interpret mode), attention_dropout and remat policies."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.errors import ConfigError
from flan.models import Transformer, attention_kernels
from flan.models.config import REMAT_POLICIES
from flan.models.layout import scan_params
from flan.models.relative_position import RelativePositionBias
from model_tiny import random_params, random_tokens, tiny

PARAMS = random_params(tiny(), seed=3)
# one layer per stack keeps the gradient tests' compiles short.
ONE_LAYER = dict(num_encoder_layers=1, num_decoder_layers=1)
ONE_LAYER_PARAMS = random_params(tiny(**ONE_LAYER), seed=4)


def packed_batch(rng, enc_len=40, dec_len=24, lengths=((9, 6), (20, 11), (6, 4))):
  """Two packed rows of three examples (second row in reverse order), trailing padding."""
  examples = [(random_tokens(rng, (n,)), np.concatenate([[0], random_tokens(rng, (m - 1,))]))
              for n, m in lengths]
  names = ("encoder_input_tokens", "encoder_segment_ids", "encoder_positions",
           "decoder_input_tokens", "decoder_segment_ids", "decoder_positions")
  batch = {k: np.zeros((2, enc_len if k.startswith("encoder") else dec_len), np.int32) for k in names}
  for row, order in enumerate((examples, examples[::-1])):
    e0 = d0 = 0
    for segment, (enc, dec) in enumerate(order, start=1):
      for side, tokens, start in (("encoder", enc, e0), ("decoder", dec, d0)):
        stop = start + len(tokens)
        batch[f"{side}_input_tokens"][row, start:stop] = tokens
        batch[f"{side}_segment_ids"][row, start:stop] = segment
        batch[f"{side}_positions"][row, start:stop] = np.arange(len(tokens))
      e0, d0 = e0 + len(enc), d0 + len(dec)
  return batch


def per_example_bias(batch):
  """The previous computation as a reference: each stack's bias from the packed positions of every
  example, [batch, heads, q, k], instead of the shared [1, heads, q, k] from the row offsets."""
  def interceptor(next_fun, args, kwargs, context):
    if isinstance(context.module, RelativePositionBias) and context.method_name == "__call__":
      side = "encoder" if context.module.bidirectional else "decoder"
      positions = jnp.asarray(batch[f"{side}_positions"])
      return next_fun(positions, positions)
    return next_fun(*args, **kwargs)
  return nn.intercept_methods(interceptor)


def test_shared_bias_equals_per_example_bias_on_packed_rows():
  cfg = tiny()
  batch = packed_batch(np.random.RandomState(0))
  model = Transformer(cfg)
  shared = np.asarray(jax.jit(model.apply)({"params": PARAMS}, **batch))
  with per_example_bias(batch):
    reference = np.asarray(model.apply({"params": PARAMS}, **batch))
  real = batch["decoder_segment_ids"] > 0
  np.testing.assert_allclose(shared[real], reference[real], atol=1e-6, rtol=1e-6)
  # the reference does use other biases: with positions ignored inside the interceptor's stacks
  # (all zero) the logits move, so the comparison above is not vacuous.
  zeros = dict(batch, encoder_positions=0 * batch["encoder_positions"],
               decoder_positions=0 * batch["decoder_positions"])
  with per_example_bias(zeros):
    moved = np.asarray(model.apply({"params": PARAMS}, **zeros))
  assert np.abs(moved[real] - shared[real]).max() > 1e-3


def test_shared_bias_is_one_row_in_the_activation_dtype():
  cfg = tiny(dtype="bfloat16")
  batch = packed_batch(np.random.RandomState(1))
  biases = []

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name == "__call__" and type(context.module).__name__ == "EncoderLayer":
      biases.append(args[1])
    return out
  with nn.intercept_methods(record):
    jax.eval_shape(lambda: Transformer(cfg).apply({"params": PARAMS}, **batch))
  assert biases and all(b.shape == (1, 4, 40, 40) and b.dtype == jnp.bfloat16 for b in biases)


def loss_and_grads(cfg, params, batch, enable_dropout=False, attention_scope=None):
  targets = np.roll(batch["decoder_input_tokens"], -1, axis=1)
  weights = (batch["decoder_segment_ids"] > 0).astype(np.float32)

  def loss(p):
    logits = Transformer(cfg).apply({"params": p}, **batch, enable_dropout=enable_dropout,
                                    rngs={"dropout": jax.random.PRNGKey(5)})
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1)[..., 0]
    return -jnp.sum(logp * weights) / jnp.sum(weights)
  return jax.jit(jax.value_and_grad(loss))(params)


def assert_trees_close(got, want, rtol, atol):
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=atol), got, want)


def test_fused_path_equals_unfused_with_gradients():
  batch = packed_batch(np.random.RandomState(2))
  want_loss, want_grads = loss_and_grads(tiny(attention_impl="xla", **ONE_LAYER), ONE_LAYER_PARAMS, batch)
  got_loss, got_grads = loss_and_grads(tiny(attention_impl="dot_product_attention", **ONE_LAYER),
                                       ONE_LAYER_PARAMS, batch)
  np.testing.assert_allclose(float(got_loss), float(want_loss), rtol=1e-6)
  assert_trees_close(got_grads, want_grads, rtol=1e-4, atol=1e-6)


def test_attention_dropout_is_its_own_setting():
  assert tiny(dropout_rate=0.05).attention_dropout_rate == 0.05  # T5X's default: dropout_rate
  assert tiny(dropout_rate=0.05, attention_dropout=0.0).attention_dropout_rate == 0.0
  batch = packed_batch(np.random.RandomState(3))
  # attention_dropout 0: the fused kernel trains with the other dropouts, same masks as the XLA path.
  cfg = tiny(dropout_rate=0.3, attention_dropout=0.0, **ONE_LAYER)
  xla = loss_and_grads(cfg.replace(attention_impl="xla"), ONE_LAYER_PARAMS, batch, enable_dropout=True)
  fused = loss_and_grads(cfg.replace(attention_impl="dot_product_attention"), ONE_LAYER_PARAMS, batch,
                         enable_dropout=True)
  np.testing.assert_allclose(float(fused[0]), float(xla[0]), rtol=1e-6)
  assert_trees_close(fused[1], xla[1], rtol=1e-4, atol=1e-6)
  # attention dropout alone changes the outputs; with it the fused kernel is refused.
  run = lambda cfg: np.asarray(jax.jit(lambda p: Transformer(cfg).apply(
      {"params": p}, **batch, enable_dropout=True, rngs={"dropout": jax.random.PRNGKey(5)}))(ONE_LAYER_PARAMS))
  plain, only_attention = run(tiny(**ONE_LAYER)), run(tiny(attention_dropout=0.3, **ONE_LAYER))
  assert np.abs(only_attention - plain).max() > 1e-2
  fused_with_dropout = Transformer(tiny(attention_dropout=0.3, attention_impl="dot_product_attention"))
  with pytest.raises(ConfigError, match="cannot apply dropout to attention weights.*attention_dropout=0"):
    jax.eval_shape(lambda: fused_with_dropout.apply({"params": PARAMS}, **batch, enable_dropout=True,
                                                     rngs={"dropout": jax.random.PRNGKey(0)}))


def test_auto_choice_per_backend_and_explicit_errors(monkeypatch):
  choose = attention_kernels.choose_impl
  assert choose("auto", attention_dropout=True, query_length=256, key_length=256) == "xla"
  assert choose("auto", attention_dropout=False, query_length=1, key_length=256) == "xla"
  assert choose("auto", attention_dropout=False, query_length=256, key_length=256) == "dot_product_attention"
  monkeypatch.setattr(attention_kernels, "pallas_available", lambda: True)
  assert choose("auto", attention_dropout=False, query_length=256, key_length=512) == "pallas"
  assert choose("auto", attention_dropout=False, query_length=200, key_length=512) == "dot_product_attention"
  with pytest.raises(ConfigError, match="multiples of 128"):
    choose("pallas", attention_dropout=False, query_length=200, key_length=512)
  monkeypatch.undo()
  with pytest.raises(ConfigError, match="needs a TPU backend"):
    choose("pallas", attention_dropout=False, query_length=256, key_length=256)
  with pytest.raises(ConfigError, match="needs a GPU"):
    choose("cudnn", attention_dropout=False, query_length=256, key_length=256)
  with pytest.raises(ConfigError, match="unknown value 'flash'"):
    choose("flash", attention_dropout=False, query_length=256, key_length=256)


def test_pallas_flash_kernel_in_tpu_interpret_mode():
  """The TPU kernel path (segment ids, padding keys, causal, shared bias) on CPU via Pallas interpret
  mode; outputs at real tokens equal the XLA path."""
  pltpu = pytest.importorskip("jax.experimental.pallas.tpu")
  rng = np.random.RandomState(4)
  q, k, v = (jnp.asarray(rng.randn(2, 128, 2, 8), jnp.float32) for _ in range(3))
  bias = jnp.asarray(rng.randn(1, 2, 128, 128), jnp.float32)
  segments = jnp.asarray(np.repeat([[1, 2, 3, 0]], 32, axis=1).repeat(2, axis=0))
  valid = segments > 0
  kwargs = dict(query_segment_ids=segments, key_segment_ids=segments, key_valid=valid, causal=True)
  want = attention_kernels.dot_product_attention(q, k, v, bias, impl="xla", **kwargs)
  with pltpu.force_tpu_interpret_mode():
    got = jax.jit(lambda q, k, v, b: attention_kernels.dot_product_attention(
        q, k, v, b, impl="pallas", **kwargs))(q, k, v, bias)
  real = np.asarray(valid)
  np.testing.assert_allclose(np.asarray(got)[real], np.asarray(want)[real], atol=2e-5, rtol=2e-5)


def test_remat_policies_give_identical_gradients():
  cfg = tiny(**ONE_LAYER)
  params = ONE_LAYER_PARAMS
  batch = packed_batch(np.random.RandomState(6))
  want_loss, want_grads = loss_and_grads(cfg, params, batch)
  scanned = scan_params(params, cfg.replace(scan_layers=True))
  want_scanned = scan_params(want_grads, cfg.replace(scan_layers=True))
  # every policy, scanned and unscanned alternately, to keep the compile count small.
  for i, policy in enumerate(REMAT_POLICIES[1:]):
    scan_layers = bool(i % 2)
    got_loss, got_grads = loss_and_grads(cfg.replace(remat=policy, scan_layers=scan_layers),
                                         scanned if scan_layers else params, batch)
    np.testing.assert_allclose(float(got_loss), float(want_loss), rtol=1e-6, err_msg=policy)
    assert_trees_close(got_grads, want_scanned if scan_layers else want_grads, rtol=1e-5, atol=1e-7)


def test_remat_policy_names():
  assert tiny(remat=True).remat == "full" and tiny(remat=False).remat == "none"
  with pytest.raises(ValueError, match="remat must be one of"):
    tiny(remat="dots")
