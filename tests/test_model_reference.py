"""The flax T5 forward pass against an independent float64 numpy implementation of T5
(v1.1 gated-GELU with untied logits, and original T5 ReLU with tied, rescaled logits)."""
import math

import jax
import numpy as np
import pytest

from flan.models import get_config
from model_tiny import jitted, random_params
from test_model_relative_position import reference_bucket


def rms_norm(x, scale, eps=1e-6):
  return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def gelu_tanh(x):
  return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(p, xq, xkv, allowed, bias, heads):
  """xq [q, d], xkv [k, d] for one example; allowed [q, k] bool; bias [heads, q, k] or None."""
  def split(x):  # [n, heads*hd] -> [heads, n, hd]
    return x.reshape(x.shape[0], heads, -1).transpose(1, 0, 2)
  q, k, v = split(xq @ p["query"]["kernel"]), split(xkv @ p["key"]["kernel"]), split(
      xkv @ p["value"]["kernel"])
  scores = q @ k.transpose(0, 2, 1)  # no 1/sqrt(d): T5 folds it into the query weights
  if bias is not None:
    scores = scores + bias
  scores = np.where(allowed[None], scores, -1e30)
  scores = scores - scores.max(-1, keepdims=True)
  probs = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
  out = (probs @ v).transpose(1, 0, 2).reshape(xq.shape[0], -1)
  return out @ p["out"]["kernel"]


def mlp(p, x, feed_forward):
  if feed_forward == "relu":
    return np.maximum(x @ p["wi"]["kernel"], 0) @ p["wo"]["kernel"]
  return (gelu_tanh(x @ p["wi_0"]["kernel"]) * (x @ p["wi_1"]["kernel"])) @ p["wo"]["kernel"]


def bias_table(table, length_q, length_k, bidirectional):
  ids = np.array([[reference_bucket(k - q, bidirectional, 32, 128) for k in range(length_k)]
                  for q in range(length_q)])
  return table[:, ids]


def reference_logits(params, cfg, enc_tokens, dec_tokens):
  """float64 logits for one unpadded-on-the-right example (padding = token 0)."""
  emb = params["token_embedder"]["embedding"]
  enc, dec = params["encoder"], params["decoder"]
  x = emb[enc_tokens]
  s = len(enc_tokens)
  allowed = np.broadcast_to(enc_tokens[None, :] > 0, (s, s))
  bias = bias_table(enc["relpos_bias"]["rel_embedding"], s, s, True)
  for i in range(cfg.num_encoder_layers):
    p = enc[f"layers_{i}"]
    x = x + attention(p["attention"], rms_norm(x, p["pre_attention_layer_norm"]["scale"]),
                      rms_norm(x, p["pre_attention_layer_norm"]["scale"]), allowed, bias,
                      cfg.num_heads)
    x = x + mlp(p["mlp"], rms_norm(x, p["pre_mlp_layer_norm"]["scale"]), cfg.feed_forward)
  encoded = rms_norm(x, enc["encoder_norm"]["scale"])

  y = emb[dec_tokens]
  t = len(dec_tokens)
  causal = np.tril(np.ones((t, t), bool))
  cross = np.broadcast_to(enc_tokens[None, :] > 0, (t, s))
  bias = bias_table(dec["relpos_bias"]["rel_embedding"], t, t, False)
  for i in range(cfg.num_decoder_layers):
    p = dec[f"layers_{i}"]
    h = rms_norm(y, p["pre_self_attention_layer_norm"]["scale"])
    y = y + attention(p["self_attention"], h, h, causal, bias, cfg.num_heads)
    h = rms_norm(y, p["pre_cross_attention_layer_norm"]["scale"])
    y = y + attention(p["encoder_decoder_attention"], h, encoded, cross, None, cfg.num_heads)
    y = y + mlp(p["mlp"], rms_norm(y, p["pre_mlp_layer_norm"]["scale"]), cfg.feed_forward)
  y = rms_norm(y, dec["decoder_norm"]["scale"])
  if cfg.logits_via_embedding:
    return (y * cfg.emb_dim ** -0.5) @ emb.T
  return y @ dec["logits_dense"]["kernel"]


@pytest.mark.parametrize("variant", [
    dict(),
    dict(feed_forward="relu", logits_via_embedding=True),
    dict(attention_impl="xla"),
])
def test_forward_matches_float64_numpy(variant):
  cfg = get_config("tiny", vocab_size=96, dtype="float32", **variant)
  rng = np.random.RandomState(1)
  # lengths past the 16 exact buckets so the log-spaced buckets are exercised.
  enc = rng.randint(2, 96, (2, 40)).astype(np.int32)
  enc[1, 29:] = 0
  dec = rng.randint(2, 96, (2, 24)).astype(np.int32)
  dec[:, 0] = 0
  params = random_params(cfg, seed=3)
  logits = np.asarray(jitted(cfg)({"params": params}, enc, dec))
  params64 = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), params)
  for row in range(2):
    want = reference_logits(params64, cfg, enc[row], dec[row])
    scale = np.abs(want).max()
    np.testing.assert_allclose(logits[row], want, atol=2e-5 * scale, rtol=0,
                               err_msg=f"row {row}")
