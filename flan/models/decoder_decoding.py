"""Autoregressive decoding for the decoder-only family: greedy, temperature sampling (top-k / top-p), beam search.

The prompt rows (right-padded, each with its own length) run through the network once ("prefill"), which
fills the key/value cache; then each step feeds one token per row at that row's own position. Loops are
lax.while_loops inside one jitted function, stopping when every row has emitted EOS or max_new_tokens tokens.
With config.prefix_lm, the prompt attends to itself bidirectionally (the prefix-LM mode); generated tokens are causal.

Outputs are the generated ids only (the prompt excluded), EOS included, then 0.
"""
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flan import partitioning
from flan import xla_options
from flan.models import beam_search
from flan.models.decoder import DecoderOnly
from flan.models.decoder_config import DecoderConfig
from flan.models.decoding import choose_tokens, mask_vocab

METHODS = ("greedy", "sample", "beam")


def _prefill(model, params, prompt_tokens, prompt_lengths, cache_length, prefix_lm):
  """Logits [b, vocab] after each row's last prompt token, and the cache holding the prompt."""
  causal_attention = None
  if prefix_lm:
    causal_attention = (jnp.arange(prompt_tokens.shape[1])[None, :] < prompt_lengths[:, None]).astype(jnp.int32)
  logits, variables = model.apply({"params": params}, prompt_tokens, decoder_causal_attention=causal_attention,
                                  cache_mode="prefill", cache_length=cache_length, logits_at=prompt_lengths - 1,
                                  mutable=["cache"])
  return logits[:, 0].astype(jnp.float32), variables["cache"]


def _step(model, params, cache, tokens, positions, cache_length):
  """Logits [b, vocab] after feeding tokens [b] at positions [b], and the updated cache."""
  logits, variables = model.apply({"params": params, "cache": cache}, tokens[:, None],
                                  decoder_positions=positions[:, None], cache_mode="step",
                                  cache_length=cache_length, mutable=["cache"])
  return logits[:, 0].astype(jnp.float32), variables["cache"]


@xla_options.jit_by_platform(static_argnames=("config", "max_new_tokens", "greedy", "top_k", "use_top_p",
                                               "vocab_limit"))
def _sample_loop(params, prompt_tokens, prompt_lengths, rng, temperature, top_p, eos_id, *, config,
                 max_new_tokens, greedy, top_k, use_top_p, vocab_limit):
  model = DecoderOnly(config)
  batch, width = prompt_tokens.shape
  cache_length = width + max_new_tokens
  logits, cache = _prefill(model, params, prompt_tokens, prompt_lengths, cache_length, config.prefix_lm)
  state = (jnp.array(0), logits, cache, jnp.zeros((batch, max_new_tokens), jnp.int32),
           jnp.zeros((batch,), bool), rng)

  def not_done(state):
    step, _, _, _, finished, _ = state
    return (step < max_new_tokens) & ~jnp.all(finished)

  def body(state):
    step, logits, cache, sequences, finished, rng = state
    tokens, rng = choose_tokens(logits, finished, rng, temperature, top_p, greedy=greedy, top_k=top_k,
                                use_top_p=use_top_p, vocab_limit=vocab_limit)
    sequences = jax.lax.dynamic_update_slice(sequences, tokens[:, None], (0, step))
    logits, cache = _step(model, params, cache, tokens, prompt_lengths + step, cache_length)
    return step + 1, logits, cache, sequences, finished | (tokens == eos_id), rng

  return jax.lax.while_loop(not_done, body, state)[3]


def _repeat_rows(cache, k, batch_axis):
  return jax.tree.map(lambda x: jnp.repeat(x, k, axis=batch_axis), cache)


def _take_rows(cache, rows, batch_axis):
  return jax.tree.map(lambda x: jnp.take(x, rows, axis=batch_axis), cache)


@xla_options.jit_by_platform(static_argnames=("config", "max_new_tokens", "beam_size", "vocab_limit"))
def _beam_loop(params, prompt_tokens, prompt_lengths, alpha, eos_id, *, config, max_new_tokens, beam_size,
               vocab_limit):
  """Beam search (flan.models.beam_search); the prompt is prefilled once per row and its cache copied to the
  row's beams."""
  model = DecoderOnly(config)
  batch, width = prompt_tokens.shape
  k, length = beam_size, max_new_tokens
  cache_length = width + length
  logits, cache = _prefill(model, params, prompt_tokens, prompt_lengths, cache_length, config.prefix_lm)
  batch_axis = 1 if config.scan_layers else 0
  beam_lengths = jnp.repeat(prompt_lengths, k)
  state = dict(beams=beam_search.initial_beams(batch, k, length), logits=jnp.repeat(logits, k, axis=0),
               cache=_repeat_rows(cache, k, batch_axis))

  def body(s):
    logp = jax.nn.log_softmax(mask_vocab(s["logits"], vocab_limit), axis=-1)
    beams, last, rows = beam_search.advance(s["beams"], logp, eos_id, alpha)
    logits, cache = _step(model, params, _take_rows(s["cache"], rows, batch_axis), last,
                          beam_lengths + s["beams"]["step"], cache_length)
    return dict(beams=beams, logits=logits, cache=cache)

  s = jax.lax.while_loop(lambda s: beam_search.not_done(s["beams"], alpha), body, state)
  return beam_search.best_sequences(s["beams"])


def _validate(method, max_new_tokens, temperature, top_k, top_p, beam_size):
  if method not in METHODS:
    raise ValueError(f"decoding method must be one of {METHODS}, got {method!r}")
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
  if temperature < 0 or top_k < 0 or not 0.0 < top_p <= 1.0 or beam_size < 1:
    raise ValueError(f"need temperature >= 0, top_k >= 0, 0 < top_p <= 1, beam_size >= 1; got {temperature}, "
                     f"{top_k}, {top_p}, {beam_size}")


def generate_tokens(config: DecoderConfig, params, prompt_tokens, prompt_lengths, *, method="greedy",
                    max_new_tokens=64, temperature=1.0, top_k=0, top_p=1.0, beam_size=4, length_penalty=0.6,
                    eos_id=1, vocab_limit: Optional[int] = None, seed=0, rng=None, mesh=None,
                    rules=None) -> np.ndarray:
  """Generated ids [batch, max_new_tokens] (int32 numpy) after right-padded prompts [batch, width] whose row i
  holds prompt_lengths[i] >= 1 real tokens. "sample" with temperature 0 is greedy. params: unboxed (numpy or
  jax arrays, or already placed with place_params); with a mesh the rows are split over its data axes."""
  _validate(method, max_new_tokens, temperature, top_k, top_p, beam_size)
  prompt_tokens = jnp.asarray(prompt_tokens, jnp.int32)
  prompt_lengths = jnp.asarray(prompt_lengths, jnp.int32)
  if prompt_tokens.ndim != 2 or prompt_lengths.shape != prompt_tokens.shape[:1]:
    raise ValueError(f"prompt_tokens must be [batch, width] and prompt_lengths [batch]; got shapes "
                     f"{tuple(prompt_tokens.shape)} and {tuple(prompt_lengths.shape)}")
  if int(jnp.min(prompt_lengths)) < 1 or int(jnp.max(prompt_lengths)) > prompt_tokens.shape[1]:
    raise ValueError(f"prompt_lengths must be in [1, {prompt_tokens.shape[1]}], got {np.asarray(prompt_lengths)}")
  if mesh is not None:
    sharding = partitioning.batch_sharding(mesh)
    prompt_tokens, prompt_lengths = jax.device_put(prompt_tokens, sharding), jax.device_put(prompt_lengths, sharding)
  platform = xla_options.mesh_platform(mesh)
  with partitioning.mesh_context(mesh, rules):
    if method == "beam":
      loop = _beam_loop(platform)
      out = loop(params, prompt_tokens, prompt_lengths, jnp.float32(length_penalty), jnp.int32(eos_id),
                 config=config, max_new_tokens=max_new_tokens, beam_size=beam_size, vocab_limit=vocab_limit)
    else:
      greedy = method == "greedy" or temperature == 0
      loop = _sample_loop(platform)
      out = loop(params, prompt_tokens, prompt_lengths, jax.random.PRNGKey(seed) if rng is None else rng,
                 jnp.float32(1.0 if greedy else temperature), jnp.float32(1.0 if greedy else top_p),
                 jnp.int32(eos_id), config=config, max_new_tokens=max_new_tokens, greedy=greedy,
                 top_k=0 if greedy else int(top_k), use_top_p=not greedy and top_p < 1.0, vocab_limit=vocab_limit)
    return np.asarray(jax.device_get(out))


def place_params(config: DecoderConfig, params, mesh=None, rules=None):
  """Params on the default device, or sharded on `mesh` by the logical axes of DecoderOnly(config)."""
  return partitioning.place_params(params, DecoderOnly(config), mesh, rules)


def padded_width(length: int, minimum: int = 16) -> int:
  """Prompt widths are padded to the next power of two: few shapes, few compilations."""
  return max(minimum, 1 << (max(length, 1) - 1).bit_length())


def generate_from_ids(config: DecoderConfig, params, prompts: Sequence[Sequence[int]], *, batch_size=8,
                      mesh=None, rules=None, seed=0, **decode_options) -> list[list[int]]:
  """Generated ids per prompt (EOS and what follows removed), in prompt order; prompts are id lists (start /
  BOS ids and the separator included, see decoder_scoring.prompt_ids). Batches of similar lengths; the last
  batch is padded with copies; with a mesh, batch_size must divide over its data axes."""
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  prompts = [list(p) for p in prompts]
  for i, p in enumerate(prompts):
    if not p:
      raise ValueError(f"prompt {i} is empty: a prompt needs at least one token (a start / BOS id)")
  if mesh is not None:
    partitioning.check_batch_size(batch_size, mesh)
  params = place_params(config, params, mesh, rules)
  eos_id = decode_options.get("eos_id", 1)
  order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
  outputs: list[list[int]] = [[] for _ in prompts]
  for number, begin in enumerate(range(0, len(order), batch_size)):
    rows = order[begin:begin + batch_size]
    rows_padded = rows + [rows[-1]] * (batch_size - len(rows))
    tokens = np.zeros((batch_size, padded_width(len(prompts[rows[0]]))), np.int32)
    lengths = np.zeros((batch_size,), np.int32)
    for r, i in enumerate(rows_padded):
      tokens[r, :len(prompts[i])] = prompts[i]
      lengths[r] = len(prompts[i])
    generated = generate_tokens(config, params, tokens, lengths, mesh=mesh, rules=rules,
                                rng=jax.random.fold_in(jax.random.PRNGKey(seed), number), **decode_options)
    for r, i in enumerate(rows):
      ids = [int(t) for t in generated[r]]
      outputs[i] = ids[:ids.index(eos_id)] if eos_id in ids else ids
  return outputs
