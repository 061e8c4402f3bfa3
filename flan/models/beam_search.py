"""Beam bookkeeping shared by both families' beam search (flan.models.decoding, decoder_decoding).

Per example: k live beams (best first) and a pool of the k best finished hypotheses, ranked by log-prob divided
by GNMT's length penalty. Each step keeps the top k continuations of the live beams; those ending in EOS join
the pool, the others stay live. The search stops when no live beam can still beat the pool's worst entry.
With k = 1 this is greedy decoding. The model side (caches, logits) stays with the caller.
"""
import jax
import jax.numpy as jnp

NEG_INF = -1e30


def length_penalty_factor(length, alpha):
  """GNMT's ((5 + length) / 6) ** alpha; scores are log-probabilities divided by it."""
  return ((5.0 + length) / 6.0) ** alpha


def initial_beams(batch: int, beam_size: int, length: int) -> dict:
  """Step 0: one live beam per example (the others at -inf), nothing finished."""
  return dict(step=jnp.array(0), alive_seqs=jnp.zeros((batch, beam_size, length), jnp.int32),
              alive_logp=jnp.tile(jnp.array([0.0] + [NEG_INF] * (beam_size - 1), jnp.float32), (batch, 1)),
              fin_seqs=jnp.zeros((batch, beam_size, length), jnp.int32),
              fin_scores=jnp.full((batch, beam_size), NEG_INF, jnp.float32))


def not_done(beams: dict, alpha):
  """Whether another step can change the result: steps are left and some example's best live beam, over
  the largest length penalty it could still get, beats that example's worst finished hypothesis."""
  length = beams["alive_seqs"].shape[-1]
  worst_penalty = jnp.maximum(length_penalty_factor(1, alpha), length_penalty_factor(length, alpha))
  live = beams["alive_logp"][:, 0] > NEG_INF / 2
  can_improve = live & (beams["alive_logp"][:, 0] / worst_penalty > beams["fin_scores"][:, -1])
  return (beams["step"] < length) & jnp.any(can_improve)


def advance(beams: dict, logp, eos_id, alpha):
  """One step from the live beams' next-token log-probabilities logp [batch * k, vocab].

  Returns (beams after the step, the live beams' last tokens [batch * k], and the rows [batch * k] of the
  previous beams they continue: reorder the model's caches by these)."""
  batch, k, _ = beams["alive_seqs"].shape
  step, vocab = beams["step"], logp.shape[-1]
  candidates = (beams["alive_logp"][:, :, None] + logp.reshape(batch, k, vocab)).reshape(batch, k * vocab)
  cand_logp, cand_index = jax.lax.top_k(candidates, k)
  source_beam, tokens = cand_index // vocab, (cand_index % vocab).astype(jnp.int32)
  cand_logp = jnp.where(beams["alive_logp"][jnp.arange(batch)[:, None], source_beam] > NEG_INF / 2,
                        cand_logp, NEG_INF)
  seqs = jnp.take_along_axis(beams["alive_seqs"], source_beam[:, :, None], axis=1)
  seqs = jax.lax.dynamic_update_slice(seqs, tokens[:, :, None], (0, 0, step))
  ended = tokens == eos_id
  new_scores = jnp.where(ended & (cand_logp > NEG_INF / 2),
                         cand_logp / length_penalty_factor(step + 1, alpha), NEG_INF)
  fin_scores, best = jax.lax.top_k(jnp.concatenate([beams["fin_scores"], new_scores], axis=1), k)
  fin_seqs = jnp.take_along_axis(jnp.concatenate([beams["fin_seqs"], seqs], axis=1), best[:, :, None], axis=1)
  # Live beams: the non-EOS continuations, best first (EOS slots fall to the end at -inf).
  alive_logp, order = jax.lax.top_k(jnp.where(ended, NEG_INF, cand_logp), k)
  last = jnp.take_along_axis(tokens, order, axis=1).reshape(-1)
  rows = (jnp.arange(batch)[:, None] * k + jnp.take_along_axis(source_beam, order, axis=1)).reshape(-1)
  after = dict(step=step + 1, alive_seqs=jnp.take_along_axis(seqs, order[:, :, None], axis=1),
               alive_logp=alive_logp, fin_seqs=fin_seqs, fin_scores=fin_scores)
  return after, last, rows


def best_sequences(beams: dict):
  """[batch, length]: each example's best finished hypothesis, or its best live beam (cut at the length)
  where none reached EOS."""
  none_finished = beams["fin_scores"][:, 0] <= NEG_INF / 2
  return jnp.where(none_finished[:, None], beams["alive_seqs"][:, 0], beams["fin_seqs"][:, 0])
