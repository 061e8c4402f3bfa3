"""Where the train loop gets batches: the synthetic source, or a seqio task/mixture via flan.data."""
import jax
import numpy as np

from flan.trainer.synthetic import SyntheticBatches

SYNTHETIC = "synthetic"


def make_train_iterator(name, *, batch_size, feature_lengths, pack, seed, vocab_size, split="train",
                        shuffle=True, repeat=True):
  """A BatchIterator for this process's rows. `name` is "synthetic" or a registered task/mixture."""
  if name == SYNTHETIC:
    return SyntheticBatches(batch_size=batch_size, feature_lengths=feature_lengths, vocab_size=vocab_size,
                            seed=seed, pack=pack, shard_index=jax.process_index(),
                            num_shards=jax.process_count())
  from flan.data import batches  # pylint: disable=import-outside-toplevel  # TensorFlow lives there
  return batches.make_batch_iterator(name, split=split, feature_lengths=feature_lengths,
                                     batch_size=batch_size, pack=pack, seed=seed, shuffle=shuffle,
                                     repeat=repeat)


def vocabulary_file(name):
  """The SentencePiece model file behind a task/mixture's tokens, or None for synthetic data."""
  if name == SYNTHETIC:
    return None
  from flan.data import vocab  # pylint: disable=import-outside-toplevel
  return vocab.resolve_vocabulary_path()


def to_global(batch, sharding):
  """This process's numpy rows -> global jax.Arrays laid out by `sharding` (rows over data/fsdp)."""
  return {name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
          for name, value in batch.items()}
