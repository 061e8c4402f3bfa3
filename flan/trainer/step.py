"""The train step: loss with z-loss and a loss normalizer, gradient accumulation over microbatches,
dropout randomness derived from the step, Adafactor update.

Gradient accumulation sums unnormalized losses over microbatches and divides once by the normalizer of
the whole batch, so k microbatches give the same update as one full batch.
"""
import jax
import jax.numpy as jnp
import optax

from flan.models import families
from flan.models import losses

NORMALIZERS = losses.NORMALIZERS


def check_loss_normalizer(loss_normalizer):
  if isinstance(loss_normalizer, (int, float)) and not isinstance(loss_normalizer, bool):
    if loss_normalizer <= 0:
      raise ValueError(f"a constant loss_normalizer must be > 0, got {loss_normalizer}")
    return
  if loss_normalizer not in NORMALIZERS:
    raise ValueError(f"unknown loss_normalizer {loss_normalizer!r}; use one of {NORMALIZERS} or a number "
                     "(233472.0 for Mesh-TensorFlow-pretrained T5)")


def token_weights_and_denominator(batch, loss_normalizer):
  """Per-token loss weights and the number the weighted sum is divided by, for the whole batch.

  The normalizers are those of `losses.loss_weights_and_normalizer`; per_sequence counts every packed
  sequence of a row (by "decoder_segment_ids") as one sequence.
  """
  weights = batch["decoder_loss_weights"].astype(jnp.float32)
  return losses.loss_weights_and_normalizer(loss_normalizer, weights, batch.get("decoder_segment_ids"))


def _split_microbatches(batch, num_microbatches):
  """[B, ...] -> [k, B/k, ...]; microbatch j takes rows j, j+k, ... so each stays spread over the data axis."""
  def split(x):
    rows = x.shape[0]
    if rows % num_microbatches:
      raise ValueError(f"batch of {rows} rows is not divisible by num_microbatches={num_microbatches}")
    x = x.reshape((rows // num_microbatches, num_microbatches) + x.shape[1:])
    return jnp.swapaxes(x, 0, 1)
  return jax.tree.map(split, batch)


def make_train_step(model, tx, schedule, *, z_loss=1e-4, label_smoothing=0.0, loss_normalizer="per_token",
                    num_microbatches=1, dropout_seed=0, enable_dropout=True):
  """Returns train_step(state, batch) -> (state, metrics) to be jitted by the caller."""
  check_loss_normalizer(loss_normalizer)
  if num_microbatches < 1:
    raise ValueError(f"num_microbatches must be >= 1, got {num_microbatches}")

  def summed_loss(params, microbatch, weights, rng):
    logits = families.batch_logits(model, params, microbatch, enable_dropout=enable_dropout,
                                   rngs={"dropout": rng})
    loss, aux = losses.cross_entropy_loss(
        logits, microbatch["decoder_target_tokens"], weights, z_loss=z_loss,
        label_smoothing=label_smoothing, loss_normalizer="sum")
    return loss, (aux["cross_entropy"], aux["z_loss"])

  grad_fn = jax.value_and_grad(summed_loss, has_aux=True)

  def train_step(state, batch):
    weights, denominator = token_weights_and_denominator(batch, loss_normalizer)
    rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
    if num_microbatches == 1:
      (loss, (ce, zl)), grads = grad_fn(state.params, batch, weights, rng)
    else:
      micro = _split_microbatches(dict(batch, _weights=weights), num_microbatches)

      def accumulate(carry, inputs):
        index, microbatch = inputs
        microbatch = dict(microbatch)
        weights_j = microbatch.pop("_weights")
        (loss_j, (ce_j, zl_j)), grads_j = grad_fn(state.params, microbatch, weights_j,
                                                  jax.random.fold_in(rng, index))
        loss, ce, zl, grads = carry
        grads = jax.tree.map(jnp.add, grads, grads_j)
        return (loss + loss_j, ce + ce_j, zl + zl_j, grads), None

      zeros = jax.tree.map(jnp.zeros_like, state.params)
      init = (jnp.float32(0), jnp.float32(0), jnp.float32(0), zeros)
      (loss, ce, zl, grads), _ = jax.lax.scan(accumulate, init, (jnp.arange(num_microbatches), micro))
    grads = jax.tree.map(lambda g: g / denominator, grads)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": loss / denominator,
        "cross_entropy": ce / denominator,
        "z_loss": zl / denominator,
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": schedule(state.step),
    }
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def make_eval_step(model):
  """eval_step(params, batch) -> {"loss_sum", "weight_sum", "correct"} summed over real target tokens
  (no dropout, no z-loss); "correct" counts argmax predictions equal to the target (teacher forcing)."""

  def eval_step(params, batch):
    logits = families.batch_logits(model, params, batch)
    weights = batch["decoder_loss_weights"].astype(jnp.float32)
    loss, _ = losses.cross_entropy_loss(logits, batch["decoder_target_tokens"], weights, z_loss=0.0,
                                        loss_normalizer="sum")
    correct = (jnp.argmax(logits, -1) == batch["decoder_target_tokens"]).astype(jnp.float32) * weights
    return {"loss_sum": loss, "weight_sum": jnp.sum(weights), "correct": jnp.sum(correct)}

  return eval_step
