"""Target log-likelihood for the decoder-only family, and the one stream convention shared with decoding.

The stream of one example is `start inputs SEP targets EOS`, where `start` is the checkpoint tokenizer's BOS
convention (`tokenizer.start_ids`: e.g. Llama's <s>; none when its tokenizer adds none) or, for tokenizers
without that attribute (the T5 SentencePiece vocabulary flan trains with), seqio's shift-right start id 0;
SEP is EOS by default (Flan-PaLM's `inputs EOS targets EOS`). The prompt fed before the targets is
`input_ids` = start + inputs + SEP; the scored ids are `target_ids` = targets + EOS. The score is
sum log p(target_ids | input_ids), teacher-forced in one forward pass. With config.prefix_lm the input_ids
positions attend bidirectionally (seqio's decoder_causal_attention: the inputs plus one position).
"""
import functools
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flan import partitioning
from flan.models.decoder import DecoderOnly
from flan.models.decoder_config import DecoderConfig

SEQIO_START_ID = 0
MIN_PADDED_LENGTH = 8


def start_ids(tokenizer) -> list[int]:
  """The ids every stream begins with: the tokenizer's own BOS convention, else seqio's start id 0."""
  ids = getattr(tokenizer, "start_ids", None)
  return [SEQIO_START_ID] if ids is None else list(ids)


def data_bos_id(tokenizer) -> Optional[int]:
  """The `bos_id` for flan.data.decoder_features that trains with this convention: the single start id, or
  None when the tokenizer adds no start token."""
  ids = start_ids(tokenizer)
  if len(ids) > 1:
    raise ValueError(f"the tokenizer starts texts with {len(ids)} ids {ids}; the data layer takes one start id")
  return ids[0] if ids else None


def prompt_ids(tokenizer, text: str, max_input_length: Optional[int] = None,
               separator_ids: Optional[Sequence[int]] = None) -> list[int]:
  """start + tokens of `text` + separator (EOS by default). Inputs longer than max_input_length tokens keep
  their last max_input_length (few-shot prompts lose their oldest exemplars)."""
  ids = tokenizer.encode(text)
  if max_input_length and len(ids) > max_input_length:
    ids = ids[len(ids) - max_input_length:]
  separator = [tokenizer.eos_id] if separator_ids is None else list(separator_ids)
  return start_ids(tokenizer) + list(ids) + separator


def target_ids(tokenizer, text: str) -> list[int]:
  """Tokens of `text` + EOS: the ids a score sums over."""
  return list(tokenizer.encode(text)) + [tokenizer.eos_id]


def padded_length(length: int) -> int:
  return max(MIN_PADDED_LENGTH, 1 << max(0, length - 1).bit_length())


def stream_arrays(input_ids: Sequence[Sequence[int]], target_ids_: Sequence[Sequence[int]], width: int,
                  num_rows: int):
  """Right-padded [num_rows, width] arrays: fed tokens (stream[:-1]), next-token targets (stream[1:]),
  weights (1 where a target id is predicted) and causal_attention (1 over the input_ids positions).
  Missing rows (batch padding) have zero weights."""
  tokens = np.zeros((num_rows, width), np.int32)
  targets = np.zeros((num_rows, width), np.int32)
  weights = np.zeros((num_rows, width), np.float32)
  causal = np.zeros((num_rows, width), np.int32)
  for row, (prompt, target) in enumerate(zip(input_ids, target_ids_)):
    stream = list(prompt) + list(target)
    n = len(stream) - 1
    tokens[row, :n] = stream[:-1]
    targets[row, :n] = stream[1:]
    weights[row, len(prompt) - 1:n] = 1.0
    causal[row, :len(prompt)] = 1
  return tokens, targets, weights, causal


@functools.lru_cache(maxsize=8)
def _summed_log_probs_fn(config: DecoderConfig):
  model = DecoderOnly(config)

  @jax.jit
  def summed_log_probs(params, tokens, targets, weights, causal):
    logits = model.apply({"params": params}, tokens, decoder_causal_attention=causal if config.prefix_lm else None)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return jnp.sum(picked * weights, axis=-1)

  return summed_log_probs


def score_token_rows(config: DecoderConfig, params: Any, input_ids: Sequence[Sequence[int]],
                     target_ids_: Sequence[Sequence[int]], batch_size: int = 8, mesh=None, rules=None) -> np.ndarray:
  """float32 [n]: sum log p(target_ids[i] | input_ids[i]) (see the module docstring). Batches of similar lengths,
  padded to powers of two; with a mesh, batch_size must divide over its data axes."""
  if len(input_ids) != len(target_ids_):
    raise ValueError(f"score_token_rows: {len(input_ids)} input rows but {len(target_ids_)} target rows")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  for i, (prompt, target) in enumerate(zip(input_ids, target_ids_)):
    if not len(prompt) or not len(target):
      raise ValueError(f"example {i}: empty {'input' if not len(prompt) else 'target'} id row (the input row "
                       "needs at least a start id, the target row its EOS)")
  if mesh is not None:
    partitioning.check_batch_size(batch_size, mesh)
  params = partitioning.place_params(params, DecoderOnly(config), mesh, rules)
  order = sorted(range(len(input_ids)), key=lambda i: -(len(input_ids[i]) + len(target_ids_[i])))
  scores = np.zeros(len(input_ids), np.float32)
  fn = _summed_log_probs_fn(config)
  for begin in range(0, len(order), batch_size):
    chunk = order[begin:begin + batch_size]
    width = padded_length(max(len(input_ids[i]) + len(target_ids_[i]) - 1 for i in chunk))
    arrays = stream_arrays([input_ids[i] for i in chunk], [target_ids_[i] for i in chunk], width, batch_size)
    if mesh is not None:
      arrays = [jax.device_put(a, partitioning.batch_sharding(mesh)) for a in arrays]
    with partitioning.mesh_context(mesh, rules):
      sums = np.asarray(jax.device_get(fn(params, *arrays)))
    scores[chunk] = sums[:len(chunk)]
  return scores


def score_texts(config: DecoderConfig, params: Any, tokenizer, pairs: Sequence[tuple[str, str]],
                batch_size: int = 8, max_input_length: Optional[int] = None,
                with_tokens: bool = False, mesh=None, rules=None):
  """Per (inputs, targets) pair, sum log p(targets + EOS | start + inputs + EOS). With with_tokens, returns
  (scores, input_ids, target_ids): the exact ids fed before the targets and the exact ids scored."""
  pairs = list(pairs)
  inputs = [prompt_ids(tokenizer, p[0], max_input_length) for p in pairs]
  targets = [target_ids(tokenizer, p[1]) for p in pairs]
  scores = score_token_rows(config, params, inputs, targets, batch_size, mesh, rules)
  return (scores, inputs, targets) if with_tokens else scores
