"""Autoregressive decoding for flan's T5: greedy, temperature sampling (top-k / top-p) and beam search.

The encoder runs once per batch; the decoder runs one token per step against the key/value cache of its
self-attention (Transformer.decode with decode=True). Loops are lax.while_loops inside one jitted function,
stopping when every row has emitted EOS or max_decode_length tokens. Parameters may be sharded on a mesh.

Outputs are token ids after the decoder start token (id 0), EOS included, padded with 0 after EOS.
"""
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flan import partitioning
from flan import xla_options
from flan.models import beam_search
from flan.models.beam_search import NEG_INF
from flan.models.config import T5Config
from flan.models.t5 import Transformer

METHODS = ("greedy", "sample", "beam")
START_TOKEN = 0


# --------------------------------------------------------------------------------------- model steps

def _decode_step(model, params, cache, encoded, encoder_tokens, tokens, max_decode_length):
  """Logits [b, vocab] of the next token after `tokens` [b], and the updated cache."""
  logits, updated = model.apply(
      {"params": params, "cache": cache}, encoded, encoder_tokens, tokens[:, None], decode=True,
      max_decode_length=max_decode_length, method=Transformer.decode, mutable=["cache"])
  return logits[:, 0, :].astype(jnp.float32), updated["cache"]


def _new_cache(model, params, encoded, encoder_tokens, max_decode_length):
  """The decode cache for [batch, max_decode_length]: empty self-attention caches and the cross-attention
  keys/values of `encoded`. Called inside the jitted loop, where XLA drops the unused full-length decoder
  pass that creates it: only the cross-attention projections run."""
  batch = encoder_tokens.shape[0]
  _, variables = model.apply(
      {"params": params}, encoded, encoder_tokens, jnp.zeros((batch, max_decode_length), jnp.int32),
      decode=True, max_decode_length=max_decode_length, method=Transformer.decode, mutable=["cache"])
  return variables["cache"]


def mask_vocab(logits, vocab_limit):
  """Ids >= vocab_limit (the model's padded vocabulary rows) can never be chosen."""
  if vocab_limit is None or vocab_limit >= logits.shape[-1]:
    return logits
  return jnp.where(jnp.arange(logits.shape[-1]) < vocab_limit, logits, NEG_INF)


def greedy_tokens(logits):
  """argmax over the last axis (the first index among ties, or the first NaN), as a max and then a min over
  the indices that reach it: two plain reductions that XLA:CPU runs about twice as fast as the (value, index)
  reduction of jnp.argmax over a [batch, 32128] row of logits."""
  best = jnp.max(logits, axis=-1, keepdims=True)
  ids = jnp.arange(logits.shape[-1], dtype=jnp.int32)
  return jnp.min(jnp.where((logits == best) | jnp.isnan(logits), ids, logits.shape[-1]), axis=-1)


def filter_logits(logits, temperature=1.0, top_k=0, top_p=1.0):
  """Temperature-scaled logits with everything outside the top-k / top-p (nucleus) set at -inf-like."""
  logits = logits / temperature
  if top_k and top_k < logits.shape[-1]:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, NEG_INF, logits)
  if not isinstance(top_p, (int, float)) or top_p < 1.0:
    sorted_logits = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    # The smallest prefix of the sorted tokens whose mass reaches top_p (the top token always stays).
    kept = (mass_before < top_p) | (top_p >= 1.0)
    threshold = jnp.min(jnp.where(kept, sorted_logits, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < threshold, NEG_INF, logits)
  return logits


# ------------------------------------------------------------------------------- greedy and sampling

def choose_tokens(logits, finished, rng, temperature, top_p, *, greedy, top_k, use_top_p, vocab_limit):
  """Each row's next token [b] (0 where the row has finished) and the advanced rng: the argmax of the logits
  [b, vocab], or a sample after temperature, top-k and (use_top_p) top-p; ids >= vocab_limit never."""
  logits = mask_vocab(logits, vocab_limit)
  if greedy:
    tokens = greedy_tokens(logits)
  else:
    rng, key = jax.random.split(rng)
    tokens = jax.random.categorical(key, filter_logits(logits, temperature, top_k, top_p if use_top_p else 1.0),
                                    axis=-1)
  return jnp.where(finished, 0, tokens).astype(jnp.int32), rng


@xla_options.jit_by_platform(static_argnames=("config", "max_decode_length", "greedy", "top_k", "use_top_p",
                                               "vocab_limit"))
def _sample_loop(params, encoder_tokens, rng, temperature, top_p, eos_id, *, config, max_decode_length, greedy,
                 top_k, use_top_p, vocab_limit):
  model = Transformer(config)
  encoded = model.apply({"params": params}, encoder_tokens, method=Transformer.encode)
  batch = encoder_tokens.shape[0]
  cache = _new_cache(model, params, encoded, encoder_tokens, max_decode_length)
  sequences = jnp.zeros((batch, max_decode_length), jnp.int32)
  state = (jnp.array(0), jnp.full((batch,), START_TOKEN, jnp.int32), cache, sequences,
           jnp.zeros((batch,), bool), rng)

  def not_done(state):
    step, _, _, _, finished, _ = state
    return (step < max_decode_length) & ~jnp.all(finished)

  def body(state):
    step, tokens, cache, sequences, finished, rng = state
    logits, cache = _decode_step(model, params, cache, encoded, encoder_tokens, tokens, max_decode_length)
    next_tokens, rng = choose_tokens(logits, finished, rng, temperature, top_p, greedy=greedy, top_k=top_k,
                                     use_top_p=use_top_p, vocab_limit=vocab_limit)
    sequences = jax.lax.dynamic_update_slice(sequences, next_tokens[:, None], (0, step))
    return step + 1, next_tokens, cache, sequences, finished | (next_tokens == eos_id), rng

  return jax.lax.while_loop(not_done, body, state)[3]


# --------------------------------------------------------------------------------------- beam search

def _reorder_cache(cache, rows, batch_axis):
  """Gathers the self-attention cache rows of the chosen beams. Scalars such as cache indices are shared,
  and the cross-attention keys/values are the same for every beam of an example (beams stay in their
  example's rows), so they stay where they are."""
  def reorder(path, x):
    if x.ndim <= batch_axis + 1 or "encoder_decoder_attention" in jax.tree_util.keystr(path):
      return x
    return jnp.take(x, rows, axis=batch_axis)
  return jax.tree_util.tree_map_with_path(reorder, cache)


@xla_options.jit_by_platform(static_argnames=("config", "max_decode_length", "beam_size", "vocab_limit"))
def _beam_loop(params, encoder_tokens, alpha, eos_id, *, config, max_decode_length, beam_size, vocab_limit):
  """Beam search (flan.models.beam_search); the encoder runs once per beam row."""
  model = Transformer(config)
  batch, k, length = encoder_tokens.shape[0], beam_size, max_decode_length
  encoder_tokens = jnp.repeat(encoder_tokens, k, axis=0)
  encoded = model.apply({"params": params}, encoder_tokens, method=Transformer.encode)
  batch_axis = 1 if config.scan_layers else 0
  state = dict(beams=beam_search.initial_beams(batch, k, length), last=jnp.full((batch * k,), START_TOKEN, jnp.int32),
               cache=_new_cache(model, params, encoded, encoder_tokens, length))

  def body(s):
    logits, cache = _decode_step(model, params, s["cache"], encoded, encoder_tokens, s["last"], length)
    logp = jax.nn.log_softmax(mask_vocab(logits, vocab_limit), axis=-1)
    beams, last, rows = beam_search.advance(s["beams"], logp, eos_id, alpha)
    return dict(beams=beams, last=last, cache=_reorder_cache(cache, rows, batch_axis))

  s = jax.lax.while_loop(lambda s: beam_search.not_done(s["beams"], alpha), body, state)
  return beam_search.best_sequences(s["beams"])


# ------------------------------------------------------------------------------------ public entry points

def _validate(method, max_decode_length, temperature, top_k, top_p, beam_size, batch_size=1):
  if method not in METHODS:
    raise ValueError(f"decoding method must be one of {METHODS}, got {method!r}")
  if max_decode_length < 1:
    raise ValueError(f"max_decode_length must be >= 1, got {max_decode_length}")
  if temperature < 0:
    raise ValueError(f"temperature must be >= 0, got {temperature}")
  if top_k < 0:
    raise ValueError(f"top_k must be >= 0 (0 = no limit), got {top_k}")
  if not 0.0 < top_p <= 1.0:
    raise ValueError(f"top_p must be in (0, 1], got {top_p}")
  if beam_size < 1:
    raise ValueError(f"beam_size must be >= 1, got {beam_size}")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def decode_tokens(config: T5Config, params, encoder_tokens, *, method="greedy", max_decode_length=64,
                  temperature=1.0, top_k=0, top_p=1.0, beam_size=4, length_penalty=0.6, seed=0, eos_id=1,
                  vocab_limit: Optional[int] = None, mesh=None, rules=None, rng=None):
  """Decoded token ids [batch, max_decode_length] (int32 numpy) for encoder token ids [batch, length].

  method "sample" with temperature 0 is greedy; its randomness is jax.random.PRNGKey(seed), or rng if given.
  params: the unboxed parameter tree (numpy or jax arrays, possibly already placed with shard_params).
  With a mesh, the batch is split over its data axes.
  """
  _validate(method, max_decode_length, temperature, top_k, top_p, beam_size)
  encoder_tokens = jnp.asarray(encoder_tokens, jnp.int32)
  if encoder_tokens.ndim != 2:
    raise ValueError(f"encoder_tokens must be [batch, length], got shape {tuple(encoder_tokens.shape)}")
  if mesh is not None:
    encoder_tokens = jax.device_put(encoder_tokens, partitioning.batch_sharding(mesh))
  platform = xla_options.mesh_platform(mesh)
  with partitioning.mesh_context(mesh, rules):
    if method == "beam":
      loop = _beam_loop(platform)
      out = loop(params, encoder_tokens, jnp.float32(length_penalty), jnp.int32(eos_id), config=config,
                 max_decode_length=max_decode_length, beam_size=beam_size, vocab_limit=vocab_limit)
    else:
      greedy = method == "greedy" or temperature == 0
      loop = _sample_loop(platform)
      out = loop(params, encoder_tokens, jax.random.PRNGKey(seed) if rng is None else rng,
                 jnp.float32(1.0 if greedy else temperature), jnp.float32(1.0 if greedy else top_p),
                 jnp.int32(eos_id), config=config, max_decode_length=max_decode_length, greedy=greedy,
                 top_k=0 if greedy else int(top_k), use_top_p=not greedy and top_p < 1.0, vocab_limit=vocab_limit)
    return np.asarray(jax.device_get(out))


def shard_params(config: T5Config, params, mesh, rules=None):
  """Places an unboxed parameter tree on the mesh with the shardings of its logical axes."""
  return partitioning.place_params(params, Transformer(config), mesh, rules)


def _bucket(length, minimum=16):
  """Padded encoder length: the next power of two (bounded recompiles across batches)."""
  return max(minimum, 1 << (max(length, 1) - 1).bit_length())


def encode_inputs(tokenizer, inputs: Sequence[str], max_input_length: Optional[int] = None):
  """Token ids with EOS per input; longer inputs keep their last max_input_length tokens."""
  encoded = []
  for text in inputs:
    ids = list(tokenizer.encode(text)) + [tokenizer.eos_id]
    if max_input_length and len(ids) > max_input_length:
      ids = ids[len(ids) - max_input_length:]
    encoded.append(ids)
  return encoded


def predict_texts(config: T5Config, params, tokenizer, inputs: Sequence[str], *, method="greedy",
                  max_decode_length=64, batch_size=8, temperature=1.0, top_k=0, top_p=1.0, beam_size=4,
                  length_penalty=0.6, seed=0, max_input_length: Optional[int] = None, mesh=None, rules=None):
  """Decoded text for each input, in input order (see CONTRACTS.md).

  Inputs are sorted by length into batches of batch_size (the last padded with copies), encoder lengths
  padded to powers of two; with a mesh, batch_size must divide over the mesh's data axes.
  max_input_length: longer inputs are cut from the left (few-shot prompts lose their oldest exemplars).
  """
  _validate(method, max_decode_length, temperature, top_k, top_p, beam_size, batch_size)
  if isinstance(inputs, str):
    raise TypeError("predict_texts takes a list of strings, got one string")
  inputs = list(inputs)
  if not inputs:
    return []
  token_lists = encode_inputs(tokenizer, inputs, max_input_length)
  if mesh is not None:
    partitioning.check_batch_size(batch_size, mesh)
    params = shard_params(config, params, mesh, rules)
  else:
    params = jax.tree.map(jnp.asarray, params)
  vocab_limit = min(int(tokenizer.vocab_size), config.vocab_size)
  order = sorted(range(len(inputs)), key=lambda i: -len(token_lists[i]))
  outputs = [None] * len(inputs)
  for batch_number, begin in enumerate(range(0, len(order), batch_size)):
    rows = order[begin:begin + batch_size]
    rows_padded = rows + [rows[-1]] * (batch_size - len(rows))
    width = _bucket(max(len(token_lists[i]) for i in rows))
    batch = np.zeros((batch_size, width), np.int32)
    for r, i in enumerate(rows_padded):
      batch[r, :len(token_lists[i])] = token_lists[i]
    decoded = decode_tokens(config, params, batch, method=method, max_decode_length=max_decode_length,
                            temperature=temperature, top_k=top_k, top_p=top_p, beam_size=beam_size,
                            length_penalty=length_penalty,
                            rng=jax.random.fold_in(jax.random.PRNGKey(seed), batch_number),
                            eos_id=tokenizer.eos_id, vocab_limit=vocab_limit, mesh=mesh, rules=rules)
    for r, i in enumerate(rows):
      outputs[i] = tokenizer.decode([int(t) for t in decoded[r]])
  return outputs
