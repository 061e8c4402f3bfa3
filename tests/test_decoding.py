"""Decoding (greedy, sampling, beam search) against independent references on tiny models."""
import itertools
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan import partitioning
from flan.models import decoding
from flan.models import layout
from flan.models.config import get_config
from flan.models.t5 import Transformer

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "hf_tiny_t5"
LENGTH = 8


def tiny(vocab_size=64, **overrides):
  return get_config("tiny", vocab_size=vocab_size, dtype="float32", emb_dim=32, num_heads=4, head_dim=8,
                    mlp_dim=64, **overrides)


def init_params(config, seed=0):
  variables = Transformer(config).init(jax.random.PRNGKey(seed), jnp.ones((1, 8), jnp.int32),
                                       jnp.ones((1, 8), jnp.int32))
  # Larger weights (norm scales aside) make the random model's outputs depend more on its inputs.
  return jax.tree_util.tree_map_with_path(lambda path, x: x if "scale" in str(path) else x * 3.0,
                                          nn.unbox(variables["params"]))


def encoder_tokens(vocab_size, seed=1, batch=4, length=12):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(2, vocab_size, size=(batch, length)).astype(np.int32)
  for row, real in enumerate(rng.integers(3, length + 1, size=batch)):
    tokens[row, real:] = 0
  return tokens


@pytest.fixture(scope="module")
def model_setup():
  config = tiny()
  return config, init_params(config), encoder_tokens(config.vocab_size)


def reference_greedy(config, params, tokens, max_length, eos_id):
  """Step-by-step argmax over the full forward pass (no cache), in a Python loop."""
  model = Transformer(config)
  forward = jax.jit(lambda p, e, d: model.apply({"params": p}, e, d))
  out = np.zeros((tokens.shape[0], max_length), np.int32)
  for row in range(tokens.shape[0]):
    decoder_inputs = np.zeros((1, max_length), np.int32)
    for t in range(max_length):
      logits = np.asarray(forward(params, tokens[row:row + 1], decoder_inputs))
      token = int(np.argmax(logits[0, t]))
      out[row, t] = token
      if token == eos_id:
        break
      if t + 1 < max_length:
        decoder_inputs[0, t + 1] = token
  return out


def test_greedy_with_cache_equals_full_forward_argmax(model_setup):
  config, params, tokens = model_setup
  no_eos = decoding.decode_tokens(config, params, tokens, max_decode_length=LENGTH, eos_id=-1)
  np.testing.assert_array_equal(no_eos, reference_greedy(config, params, tokens, LENGTH, eos_id=-1))
  assert len({tuple(r) for r in no_eos}) == tokens.shape[0]  # rows decode differently
  # EOS handling: make the token the first row emits at step 3 the EOS; that row stops there.
  eos = int(no_eos[0, 3])
  with_eos = decoding.decode_tokens(config, params, tokens, max_decode_length=LENGTH, eos_id=eos)
  np.testing.assert_array_equal(with_eos, reference_greedy(config, params, tokens, LENGTH, eos_id=eos))
  first = list(no_eos[0]).index(eos)
  assert with_eos[0, first] == eos and not with_eos[0, first + 1:].any()


def test_beam_size_one_and_temperature_zero_equal_greedy(model_setup):
  config, params, tokens = model_setup
  eos = int(decoding.decode_tokens(config, params, tokens, max_decode_length=LENGTH, eos_id=-1)[1, 2])
  greedy = decoding.decode_tokens(config, params, tokens, max_decode_length=LENGTH, eos_id=eos)
  beam = decoding.decode_tokens(config, params, tokens, method="beam", beam_size=1, length_penalty=0.6,
                                max_decode_length=LENGTH, eos_id=eos)
  np.testing.assert_array_equal(beam, greedy)
  cold = decoding.decode_tokens(config, params, tokens, method="sample", temperature=0.0, seed=3,
                                max_decode_length=LENGTH, eos_id=eos)
  np.testing.assert_array_equal(cold, greedy)
  top1 = decoding.decode_tokens(config, params, tokens, method="sample", temperature=2.0, top_k=1, seed=3,
                                max_decode_length=LENGTH, eos_id=eos)
  np.testing.assert_array_equal(top1, greedy)


def test_sampling_is_seeded_and_varies(model_setup):
  config, params, tokens = model_setup
  draw = lambda seed: decoding.decode_tokens(config, params, tokens, method="sample", temperature=5.0,
                                             seed=seed, max_decode_length=LENGTH, eos_id=-1)
  np.testing.assert_array_equal(draw(7), draw(7))
  assert not np.array_equal(draw(7), draw(8))


def test_filter_logits_against_numpy():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 10)).astype(np.float32)
  kept_k = np.asarray(decoding.filter_logits(jnp.asarray(logits), 0.5, top_k=3)) > -1e29
  np.testing.assert_array_equal(kept_k, logits >= np.sort(logits, axis=-1)[:, -3:-2])
  np.testing.assert_allclose(np.asarray(decoding.filter_logits(jnp.asarray(logits), 0.5))[kept_k],
                             (logits / 0.5)[kept_k], rtol=1e-6)
  for p in (0.3, 0.75, 0.999):
    kept_p = np.asarray(decoding.filter_logits(jnp.asarray(logits), 1.0, top_p=p)) > -1e29
    for row in range(3):
      probs = np.exp(logits[row] - logits[row].max())
      probs /= probs.sum()
      order = np.argsort(-probs)
      needed = int(np.searchsorted(np.cumsum(probs[order]), p) + 1)  # smallest prefix with mass >= p
      assert set(np.flatnonzero(kept_p[row])) == set(order[:needed].tolist()), (p, row)


def all_sequence_scores(config, params, tokens, max_length, eos, alpha):
  """Length-penalized log-probs of every EOS-terminated sequence up to max_length, in one forward pass."""
  others = [t for t in range(config.vocab_size) if t != eos]
  sequences = [list(p) + [eos] for n in range(max_length) for p in itertools.product(others, repeat=n)]
  targets = np.zeros((len(sequences), max_length), np.int32)
  for i, sequence in enumerate(sequences):
    targets[i, :len(sequence)] = sequence
  decoder_inputs = np.zeros_like(targets)
  decoder_inputs[:, 1:] = targets[:, :-1]
  encoder = np.repeat(tokens[None], len(sequences), axis=0)
  logp = np.asarray(jax.nn.log_softmax(Transformer(config).apply({"params": params}, encoder, decoder_inputs)),
                    np.float64)
  picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  lengths = np.array([len(s) for s in sequences])
  real = np.arange(max_length)[None, :] < lengths[:, None]
  scores = (picked * real).sum(axis=1) / ((5.0 + lengths) / 6.0) ** alpha
  return targets, scores


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_search_with_wide_beam_finds_best_hypothesis(alpha):
  """A beam as wide as all prefixes is exhaustive: compare with brute force over every sequence."""
  config = tiny(vocab_size=4)
  params = init_params(config, seed=2)
  tokens = encoder_tokens(4, seed=5, batch=2, length=5)
  max_length, eos = 3, 1
  beam = decoding.decode_tokens(config, params, tokens, method="beam", beam_size=16, length_penalty=alpha,
                                max_decode_length=max_length, eos_id=eos)
  for row in range(tokens.shape[0]):
    targets, scores = all_sequence_scores(config, params, tokens[row], max_length, eos, alpha)
    assert np.sort(scores)[-1] - np.sort(scores)[-2] > 1e-4  # a unique best hypothesis
    np.testing.assert_array_equal(beam[row], targets[np.argmax(scores)])


def test_beam_search_scanned_layers_and_mesh_match(model_setup):
  config, params, tokens = model_setup
  options = dict(method="beam", beam_size=3, max_decode_length=LENGTH, eos_id=-1)
  unscanned = decoding.decode_tokens(config, params, tokens, **options)
  scanned_config = config.replace(scan_layers=True)
  scanned = decoding.decode_tokens(scanned_config, layout.scan_params(params, scanned_config), tokens, **options)
  np.testing.assert_array_equal(scanned, unscanned)


def test_decoding_on_a_2x4_mesh_equals_one_device(model_setup):
  config, params, tokens = model_setup
  mesh = partitioning.make_mesh(data=2, model=4)
  sharded = decoding.shard_params(config, params, mesh)
  assert sharded["decoder"]["logits_dense"]["kernel"].sharding.spec == jax.sharding.PartitionSpec(None, "model")
  for options in (dict(method="greedy"), dict(method="beam", beam_size=3)):
    single = decoding.decode_tokens(config, params, tokens, max_decode_length=LENGTH, eos_id=-1, **options)
    on_mesh = decoding.decode_tokens(config, sharded, tokens, max_decode_length=LENGTH, eos_id=-1, mesh=mesh,
                                     **options)
    np.testing.assert_array_equal(on_mesh, single, err_msg=str(options))


def test_greedy_matches_transformers_generate_fixture():
  if not (FIXTURE / "golden.npz").is_file():
    pytest.skip(f"{FIXTURE}/golden.npz is absent")
  from flan.models import hf  # pylint: disable=import-outside-toplevel
  config, params = hf.import_hf(FIXTURE)
  config = config.replace(dtype="float32")
  golden = np.load(FIXTURE / "golden.npz")
  expected = golden["greedy_tokens"]
  out = decoding.decode_tokens(config, params, golden["encoder_input_tokens"],
                               max_decode_length=expected.shape[1], eos_id=1)
  np.testing.assert_array_equal(out, expected)


class CharTokenizer:
  """A byte-level stand-in for flan.models.tokenizer.Tokenizer (ids 3.. are bytes, 1 = EOS)."""
  pad_id, eos_id, vocab_size = 0, 1, 64

  def encode(self, text):
    return [3 + (b % 61) for b in text.encode()]

  def decode(self, ids):
    out = []
    for i in ids:
      if i == self.eos_id:
        break
      if i >= 3:
        out.append(chr(ord("a") + (i - 3) % 26))
    return "".join(out)


def test_predict_texts_keeps_order_and_matches_single_inputs(model_setup):
  config, params, _ = model_setup
  tokenizer = CharTokenizer()
  texts = ["a longer input", "hi", "medium", "x" * 12, "end"]
  batched = decoding.predict_texts(config, params, tokenizer, texts, max_decode_length=LENGTH, batch_size=2)
  padded = lambda ids: np.array([ids + [0] * (16 - len(ids))], np.int32)
  singles = [decoding.decode_tokens(config, params, padded(tokenizer.encode(t) + [1]), max_decode_length=LENGTH)
             for t in texts]
  singles = [tokenizer.decode(s[0]) for s in singles]
  assert batched == singles and len(set(batched)) > 1
  # Left truncation keeps the end of long prompts.
  cut = decoding.encode_inputs(tokenizer, ["abcdef"], max_input_length=3)[0]
  assert cut == tokenizer.encode("ef") + [1]
  with pytest.raises(ValueError, match="decoding method"):
    decoding.predict_texts(config, params, tokenizer, texts, method="nucleus")


def test_greedy_tokens_are_numpy_argmax_with_ties_and_nan():
  logits = np.random.default_rng(0).standard_normal((6, 300)).astype(np.float32)
  logits[1, [7, 40]] = 9.0  # a tie: the first index wins
  logits[2, :] = -3.0
  logits[3, [5, 9]] = np.nan  # NaN wins, the first one
  logits[4, 299] = np.inf
  np.testing.assert_array_equal(decoding.greedy_tokens(jnp.asarray(logits)), np.argmax(logits, axis=-1))
