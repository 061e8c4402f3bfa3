"""Decoding (prefill + cached steps: greedy, sampling, beam) and scoring for the decoder-only family."""
import functools
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan import partitioning
from flan.models import decoder_layout, decoder_scoring, hf_llama
from flan.models.decoder import DecoderOnly
from flan.models.decoder_config import get_decoder_config
from flan.models.decoder_decoding import generate_from_ids, generate_tokens

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


@functools.lru_cache(maxsize=None)
def llama(name="hf_tiny_llama"):
  config, params = hf_llama.import_llama(FIXTURES / name)
  return config.replace(dtype="float32"), params, dict(np.load(FIXTURES / name / "golden.npz"))


def golden_prompts(golden, width=16):
  prompts = [golden[f"prompt_{i}"] for i in range(3)]
  tokens = np.zeros((len(prompts), width), np.int32)
  for i, p in enumerate(prompts):
    tokens[i, :len(p)] = p
  return tokens, np.array([len(p) for p in prompts], np.int32)


@functools.partial(jax.jit, static_argnums=0)
def full_logits(config, params, tokens, causal_attention):
  return DecoderOnly(config).apply({"params": params}, tokens, decoder_causal_attention=causal_attention)


def uncached_greedy(config, params, prompt, steps, width=16):
  """Greedy continuation by re-running the whole (right-padded) sequence each step (no cache)."""
  sequence = list(prompt)
  causal = (np.arange(width) < len(prompt)).astype(np.int32)[None]
  for _ in range(steps):
    tokens = np.zeros((1, width), np.int32)
    tokens[0, :len(sequence)] = sequence
    out = full_logits(config, params, tokens, causal if config.prefix_lm else None)
    sequence.append(int(np.argmax(out[0, len(sequence) - 1])))
  return sequence[len(prompt):]


@pytest.mark.parametrize("name", ["hf_tiny_llama", "hf_tiny_llama_tied"])
def test_greedy_equals_transformers_generate(name):
  config, params, golden = llama(name)
  tokens, lengths = golden_prompts(golden)
  out = generate_tokens(config, params, tokens, lengths, max_new_tokens=8, eos_id=2)
  for i in range(3):
    np.testing.assert_array_equal(out[i], golden[f"greedy_{i}"])
  if name != "hf_tiny_llama":
    return
  # Scanned layers (the cache gains a leading layer axis) and beam search with one beam decode the same.
  scanned_config = config.replace(scan_layers=True)
  scanned = decoder_layout.scan_params(params, scanned_config)
  np.testing.assert_array_equal(generate_tokens(scanned_config, scanned, tokens, lengths, max_new_tokens=8,
                                                eos_id=2), out)
  np.testing.assert_array_equal(generate_tokens(config, params, tokens, lengths, method="beam", beam_size=1,
                                                max_new_tokens=8, eos_id=2), out)


@pytest.mark.parametrize("prefix_lm", [False, True])
def test_cached_greedy_equals_full_forward_argmax(prefix_lm):
  config = get_decoder_config("tiny", vocab_size=64, dtype="float32", num_kv_heads=1, parallel_block=True,
                              prefix_lm=prefix_lm)
  model = DecoderOnly(config)
  params = nn.unbox(jax.jit(model.init)(jax.random.key(3), *model.dummy_inputs())["params"])
  prompts = [[5, 9, 13, 2], [7], [3, 4, 5, 6, 7, 8, 9]]
  tokens = np.zeros((3, 16), np.int32)
  for i, p in enumerate(prompts):
    tokens[i, :len(p)] = p
  out = generate_tokens(config, params, tokens, [len(p) for p in prompts], max_new_tokens=5, eos_id=-1)
  for i, p in enumerate(prompts):
    assert list(out[i]) == uncached_greedy(config, params, p, 5)


def test_eos_ends_a_row_and_sampling_options():
  config, params, golden = llama()
  tokens, lengths = golden_prompts(golden)
  eos = int(golden["greedy_0"][3])
  out = generate_tokens(config, params, tokens, lengths, max_new_tokens=8, eos_id=eos)
  np.testing.assert_array_equal(out[0, :4], golden["greedy_0"][:4])
  assert not out[0, 4:].any()
  for i in (1, 2):  # rows that never meet this EOS keep the golden continuation up to their own EOS
    expected = list(golden[f"greedy_{i}"])
    expected = expected[:expected.index(eos) + 1] if eos in expected else expected
    assert list(out[i, :len(expected)]) == expected
  greedy = generate_tokens(config, params, tokens, lengths, max_new_tokens=8, eos_id=2)
  for options in (dict(temperature=0.0), dict(top_k=1)):
    np.testing.assert_array_equal(generate_tokens(config, params, tokens, lengths, method="sample",
                                                  max_new_tokens=8, eos_id=2, **options), greedy)
  sampled = generate_tokens(config, params, tokens, lengths, method="sample", max_new_tokens=8, eos_id=-1,
                            vocab_limit=10, top_p=0.9, seed=1)
  assert sampled.max() < 10
  assert len({tuple(row) for row in sampled}) > 1


def test_beam_search_with_a_beam_per_token_finds_the_best_two_token_continuation():
  config, params, golden = llama("hf_tiny_llama")
  vocab = config.vocab_size
  prompt = golden["prompt_0"]
  out = generate_tokens(config, params, prompt[None], [len(prompt)], method="beam", beam_size=vocab,
                        max_new_tokens=2, eos_id=-1, length_penalty=0.0)
  first = jax.nn.log_softmax(full_logits(config, params, prompt[None].astype(np.int32), None)[0, -1])
  extended = np.concatenate([np.repeat(prompt[None], vocab, 0), np.arange(vocab)[:, None]], 1).astype(np.int32)
  second = jax.nn.log_softmax(full_logits(config, params, extended, None)[:, -1], axis=-1)
  total = np.asarray(first)[:, None] + np.asarray(second)
  best = np.unravel_index(np.argmax(total), total.shape)
  assert tuple(out[0]) == tuple(int(t) for t in best)


def test_decoding_on_a_2x4_mesh_equals_one_device():
  config, params, golden = llama()
  tokens, lengths = golden_prompts(golden)
  tokens, lengths = np.concatenate([tokens, tokens[:1]]), np.concatenate([lengths, lengths[:1]])
  mesh = partitioning.make_mesh(data=2, model=4)
  placed = partitioning.place_params(params, DecoderOnly(config), mesh)
  for method in ("greedy", "beam"):
    expected = generate_tokens(config, params, tokens, lengths, method=method, beam_size=2, max_new_tokens=4,
                               eos_id=2)
    got = generate_tokens(config, placed, tokens, lengths, method=method, beam_size=2, max_new_tokens=4,
                          eos_id=2, mesh=mesh)
    np.testing.assert_array_equal(got, expected)


def test_generate_from_ids_keeps_prompt_order_and_cuts_at_eos():
  config, params, golden = llama()
  prompts = [list(golden[f"prompt_{i}"]) for i in range(3)]
  eos = int(golden["greedy_1"][2])
  out = generate_from_ids(config, params, prompts, batch_size=2, max_new_tokens=8, eos_id=eos)
  for i in range(3):
    expected = list(golden[f"greedy_{i}"])
    if eos in expected:
      expected = expected[:expected.index(eos)]
    assert out[i] == expected
  with pytest.raises(ValueError, match="prompt 1 is empty"):
    generate_from_ids(config, params, [[1], []], max_new_tokens=2)


# ---- scoring ---------------------------------------------------------------------------------------------


def test_scores_equal_transformers_log_probs():
  config, params, golden = llama()
  tokens, logits = golden["tokens"], golden["logits"]
  log_probs = np.asarray(jax.nn.log_softmax(jnp.asarray(logits, jnp.float64 if jax.config.x64_enabled
                                                        else jnp.float32), axis=-1))
  splits = (5, 2)
  input_ids = [list(tokens[r, :s]) for r, s in enumerate(splits)]
  target_ids = [list(tokens[r, s:]) for r, s in enumerate(splits)]
  expected = [sum(log_probs[r, p, tokens[r, p + 1]] for p in range(s - 1, tokens.shape[1] - 1))
              for r, s in enumerate(splits)]
  scores = decoder_scoring.score_token_rows(config, params, input_ids, target_ids, batch_size=4)
  np.testing.assert_allclose(scores, expected, atol=1e-4)
  mesh = partitioning.make_mesh(data=2, model=4)
  on_mesh = decoder_scoring.score_token_rows(config, params, input_ids, target_ids, batch_size=2, mesh=mesh)
  np.testing.assert_allclose(on_mesh, scores, atol=1e-5)


def test_prefix_lm_scores_use_the_bidirectional_prompt():
  config, params, golden = llama()
  prefix_config = config.replace(prefix_lm=True)
  row = golden["tokens"][0]
  scores = decoder_scoring.score_token_rows(prefix_config, params, [list(row[:6])], [list(row[6:])])
  causal = (np.arange(11) < 6).astype(np.int32)[None]
  logits = full_logits(prefix_config, params, row[None, :11].astype(np.int32), causal)
  log_probs = np.asarray(jax.nn.log_softmax(logits[0], axis=-1))
  expected = sum(log_probs[p, row[p + 1]] for p in range(5, 11))
  assert scores[0] == pytest.approx(expected, abs=1e-4)
  plain = decoder_scoring.score_token_rows(config, params, [list(row[:6])], [list(row[6:])])
  assert abs(plain[0] - scores[0]) > 1e-3  # the prompt mask matters


def test_stream_arrays_follow_seqio_prefix_lm_features():
  # seqio's PrefixLMFeatureConverter for inputs [9, 4, 6, 1] and targets [3, 9, 1] (its docstring example).
  tokens, targets, weights, causal = decoder_scoring.stream_arrays([[0, 9, 4, 6, 1]], [[3, 9, 1]], 9, 1)
  np.testing.assert_array_equal(tokens[0], [0, 9, 4, 6, 1, 3, 9, 0, 0])
  np.testing.assert_array_equal(targets[0], [9, 4, 6, 1, 3, 9, 1, 0, 0])
  np.testing.assert_array_equal(weights[0], [0, 0, 0, 0, 1, 1, 1, 0, 0])
  np.testing.assert_array_equal(causal[0], [1, 1, 1, 1, 1, 0, 0, 0, 0])
