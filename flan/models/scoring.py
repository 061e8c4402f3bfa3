"""Target log-likelihood of (inputs, targets) text pairs: the basis of rank classification.

Each example is scored alone (no packing): inputs and targets are tokenized, EOS appended to both,
right-padded with 0 to a power-of-two length (few distinct shapes, so few compilations), and the
decoder is teacher-forced on the targets shifted right with 0 as the start token. With a mesh, parameters
are sharded by their logical axes (flan.partitioning's rules) and each batch is split over the data axes.
"""
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flan import partitioning
from flan.models.config import T5Config

MIN_PADDED_LENGTH = 8


def padded_length(length: int) -> int:
  return max(MIN_PADDED_LENGTH, 1 << max(0, length - 1).bit_length())


def pad_rows(rows: Sequence[Sequence[int]], length: int, num_rows: int) -> np.ndarray:
  """[num_rows, length] int32, rows right-padded with 0; missing rows are a lone EOS (never all padding)."""
  out = np.zeros((num_rows, length), np.int32)
  for i in range(num_rows):
    row = rows[i] if i < len(rows) else [1]
    out[i, :len(row)] = row
  return out


def shift_right(targets: np.ndarray) -> np.ndarray:
  shifted = np.zeros_like(targets)
  shifted[:, 1:] = targets[:, :-1]
  return shifted


@functools.lru_cache(maxsize=8)
def _target_log_probs_fn(config: T5Config):
  from flan.models.t5 import Transformer  # pylint: disable=import-outside-toplevel
  model = Transformer(config)

  @jax.jit
  def target_log_probs(params, encoder_tokens, decoder_inputs, targets):
    logits = model.apply({"params": params}, encoder_tokens, decoder_inputs)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return jnp.where(targets > 0, picked, 0.0)

  return target_log_probs


def place_params(config: T5Config, params: Any, mesh=None, rules=None) -> Any:
  """Params on the default device, or sharded on `mesh` by the logical axes the model gives them."""
  from flan.models.t5 import Transformer  # pylint: disable=import-outside-toplevel
  return partitioning.place_params(params, Transformer(config), mesh, rules)


def target_log_probs(config: T5Config, params: Any, encoder_tokens: np.ndarray,
                     targets: np.ndarray, mesh=None, rules=None) -> np.ndarray:
  """[batch, length] log p(target token) under teacher forcing, 0 at padding (target id 0)."""
  arrays = [np.asarray(encoder_tokens, np.int32), shift_right(np.asarray(targets, np.int32)),
            np.asarray(targets, np.int32)]
  if mesh is not None:
    partitioning.check_batch_size(arrays[0].shape[0], mesh)
    arrays = [jax.device_put(a, partitioning.batch_sharding(mesh)) for a in arrays]
  with partitioning.mesh_context(mesh, rules):
    return np.asarray(jax.device_get(_target_log_probs_fn(config)(params, *arrays)))


def _fixed_or_bucketed(rows, fixed: int | None, what: str, chunk: Sequence[int]) -> int:
  longest = max(len(r) for r in rows)
  if fixed is None:
    return padded_length(longest)
  if longest > fixed:
    example = chunk[max(range(len(rows)), key=lambda i: len(rows[i]))]
    raise ValueError(f"example {example}: {longest} tokens in its {what} exceed {what}_length={fixed}")
  return fixed


def score_tokens(config: T5Config, params: Any, inputs: Sequence[Sequence[int]],
                 targets: Sequence[Sequence[int]], batch_size: int = 8, inputs_length: int | None = None,
                 targets_length: int | None = None, mesh=None, rules=None) -> np.ndarray:
  """Summed target log-probs for token-id rows (EOS already appended by the caller), float32 [n].

  Rows are padded to inputs_length / targets_length when given (one compiled shape; longer rows are an
  error), else to the next power of two of each batch's longest row. With a mesh, batch_size must divide
  over its data axes; rules default to flan.partitioning.logical_rules().
  """
  if len(inputs) != len(targets):
    raise ValueError(f"score_tokens: {len(inputs)} inputs but {len(targets)} targets")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  for i, row in enumerate(targets):
    if not len(row):
      raise ValueError(f"example {i}: empty target token row (append EOS)")
  if mesh is not None:
    rules = partitioning.logical_rules() if rules is None else rules
    partitioning.check_batch_size(batch_size, mesh)
  params = place_params(config, params, mesh, rules)
  # Longest first: batches of similar lengths waste less padding.
  order = sorted(range(len(inputs)), key=lambda i: (-len(inputs[i]), -len(targets[i])))
  scores = np.zeros(len(inputs), np.float32)
  for start in range(0, len(order), batch_size):
    chunk = order[start:start + batch_size]
    chunk_inputs = [inputs[i] for i in chunk]
    chunk_targets = [targets[i] for i in chunk]
    encoder = pad_rows(chunk_inputs, _fixed_or_bucketed(chunk_inputs, inputs_length, "inputs", chunk),
                       batch_size)
    decoder_targets = pad_rows(
        chunk_targets, _fixed_or_bucketed(chunk_targets, targets_length, "targets", chunk), batch_size)
    sums = target_log_probs(config, params, encoder, decoder_targets, mesh, rules).sum(axis=-1)
    scores[chunk] = sums[:len(chunk)]
  return scores


def score(config: T5Config, params: Any, tokenizer, pairs: Sequence[tuple[str, str]],
          batch_size: int = 8, inputs_length: int | None = None, targets_length: int | None = None,
          mesh=None, rules=None) -> np.ndarray:
  """Per pair, the summed log-probability of the target's tokens (EOS included) given the inputs."""
  pairs = list(pairs)
  inputs = [ids + [tokenizer.eos_id] for ids in tokenizer.encode_batch([p[0] for p in pairs])]
  targets = [ids + [tokenizer.eos_id] for ids in tokenizer.encode_batch([p[1] for p in pairs])]
  return score_tokens(config, params, inputs, targets, batch_size=batch_size, inputs_length=inputs_length,
                      targets_length=targets_length, mesh=mesh, rules=rules)
