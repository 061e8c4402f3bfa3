"""The run's data: resolved once from the mixture name, it gives seeded, resumable batch iterators and the
vocabulary behind their tokens (checked against the model's vocab_size before anything compiles)."""
import dataclasses
from typing import Optional

import jax
import numpy as np

from flan.errors import ConfigError
from flan.trainer.synthetic import SyntheticBatches, SyntheticDecoderBatches

SYNTHETIC = "synthetic"


@dataclasses.dataclass(frozen=True)
class DataSource:
  """`mixture` is "synthetic" or a registered seqio task/mixture. vocabulary_file is the SentencePiece model
  behind the tokens (None for synthetic data, whose ids go up to model_vocab_size)."""
  mixture: str
  model_vocab_size: int
  vocabulary_file: Optional[str] = None
  vocabulary_size: Optional[int] = None

  @property
  def is_synthetic(self) -> bool:
    return self.mixture == SYNTHETIC

  def iterator(self, *, batch_size, feature_lengths, pack, seed, name=None, split="train", shuffle=True,
               repeat=True, converter="encdec", bos_id=0):
    """A BatchIterator over this process's rows of `name` (default: the mixture). converter: "encdec", or
    "decoder" / "prefix_lm" for decoder-only models (bos_id: the token their streams start with)."""
    name = name or self.mixture
    if name == SYNTHETIC:
      common = dict(batch_size=batch_size, feature_lengths=feature_lengths, vocab_size=self.model_vocab_size,
                    seed=seed, pack=pack, shard_index=jax.process_index(), num_shards=jax.process_count())
      if converter == "encdec":
        return SyntheticBatches(**common)
      return SyntheticDecoderBatches(converter=converter, bos_id=bos_id, **common)
    from flan.data import batches  # pylint: disable=import-outside-toplevel  # TensorFlow: real data only
    return batches.make_batch_iterator(name, split=split, feature_lengths=feature_lengths,
                                       batch_size=batch_size, pack=pack, seed=seed, shuffle=shuffle,
                                       repeat=repeat, converter=converter, bos_id=bos_id)


def resolve(mixture, model_vocab_size, *, eval_tasks=()) -> DataSource:
  """The data source of `mixture`; ConfigError when its vocabulary is not configured, differs between the
  mixture and the eval tasks, or has more ids than the model's embedding (model_vocab_size)."""
  if not isinstance(mixture, str) or not mixture:
    raise ConfigError(f"train.mixture must be a task or mixture name (or 'synthetic'), got {mixture!r}")
  names = [mixture] + [task for task in eval_tasks if task != SYNTHETIC]
  found = {name: _vocabulary(name, key) for name, key in zip(names, ["train.mixture"] +
                                                                 ["train.eval_tasks"] * len(eval_tasks))
           if name != SYNTHETIC}
  if not found:
    return DataSource(mixture, model_vocab_size)
  files = {path for path, _ in found.values()}
  if len(files) > 1:
    raise ConfigError("the mixture and the eval tasks use different vocabularies: "
                      + ", ".join(f"{name}: {path}" for name, (path, _) in found.items()))
  path, size = next(iter(found.values()))
  if size > model_vocab_size:
    raise ConfigError(f"the vocabulary {path} has {size} token ids but the model's vocab_size is "
                      f"{model_vocab_size} (get_config.vocab_size): ids beyond it have no embedding")
  return DataSource(mixture, model_vocab_size, path, size)


def _vocabulary(name, key):
  from flan.data import vocab  # pylint: disable=import-outside-toplevel  # TensorFlow: real data only
  try:
    return vocab.task_vocabulary(name)
  except ConfigError as error:
    raise ConfigError(f"{key} {name!r}: {error}") from None
  except (ValueError, KeyError) as error:  # unknown name: the message lists the closest registered names
    raise ConfigError(f"{key}: {error}") from None


def to_global(batch, sharding):
  """This process's numpy rows -> global jax.Arrays laid out by `sharding` (rows over data/fsdp)."""
  return {name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
          for name, value in batch.items()}
