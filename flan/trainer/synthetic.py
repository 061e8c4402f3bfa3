"""A seeded, resumable source of synthetic model-feature batches (the BatchIterator protocol).

Each row packs a few examples whose target is the input sequence reversed and shifted by one token id,
so a model can learn it and the loss falls. Batch `i` depends only on (seed, i, global row), which makes the
iterator state a single counter: `set_state(get_state())` continues with no repeat and no gap, also in a
run with another number of processes (`reshard_state`).
Used by tests, the throughput benchmark (on machines without TensorFlow) and as a stand-in dataset.
"""
import numpy as np

from flan.data import decoder_features  # numpy only: no TensorFlow

FIRST_TOKEN = 2  # 0 is padding, 1 is EOS


class SyntheticBatches:
  """Infinite iterator of packed (or unpacked) encoder-decoder batches with T5X feature names."""

  def __init__(self, *, batch_size, feature_lengths, vocab_size=32128, seed=0, pack=True,
               shard_index=0, num_shards=1, max_examples_per_row=3, fill_fraction=0.9):
    if batch_size % num_shards:
      raise ValueError(f"batch_size {batch_size} is not divisible by num_shards {num_shards}")
    if vocab_size < FIRST_TOKEN + 2:
      raise ValueError(f"vocab_size {vocab_size} is too small for synthetic tokens")
    self.rows = batch_size // num_shards
    self.input_length = int(feature_lengths["inputs"])
    self.target_length = int(feature_lengths["targets"])
    self.vocab_size = vocab_size
    self.seed = seed
    self.pack = pack
    self.shard_index = shard_index
    self.max_examples_per_row = max_examples_per_row if pack else 1
    self.fill_fraction = fill_fraction
    self.batches_read = 0

  def __iter__(self):
    return self

  def get_state(self):
    return {"batches_read": self.batches_read, "seed": self.seed, "shard_index": self.shard_index}

  def set_state(self, state):
    if state.get("seed") != self.seed or state.get("shard_index") != self.shard_index:
      raise ValueError(f"iterator state {state} was saved for another seed or shard than "
                       f"seed={self.seed} shard_index={self.shard_index}")
    self.batches_read = int(state["batches_read"])

  def reshard_state(self, saved_states):
    """This shard's state continuing the global stream that `saved_states` (one per shard of a run with
    another number of shards, in shard order) left off: every shard saved the same batch count, and
    batch i is the same global batch for any number of shards."""
    counts = {int(state["batches_read"]) for state in saved_states}
    seeds = {state.get("seed") for state in saved_states}
    shards = [state.get("shard_index") for state in saved_states]
    if len(counts) != 1 or seeds != {self.seed} or shards != list(range(len(saved_states))):
      raise ValueError(f"saved synthetic iterator states {saved_states} are not one stream of seed "
                       f"{self.seed} read by shards 0..{len(saved_states) - 1} to the same batch")
    return {"batches_read": counts.pop(), "seed": self.seed, "shard_index": self.shard_index}

  def __next__(self):
    batch_index = self.batches_read
    self.batches_read += 1
    features = {name: np.zeros((self.rows, length), np.int32) for name, length in self._shapes().items()}
    for row in range(self.rows):
      # Seeded by the row's global index: the global batch is the same for any number of shards (hosts).
      global_row = self.shard_index * self.rows + row
      self._fill_row(np.random.default_rng([self.seed, batch_index, global_row]), features, row)
    if not self.pack:
      for name in [n for n in features if n.endswith(("_segment_ids", "_positions"))]:
        del features[name]
    return features

  def _shapes(self):
    shapes = {}
    for side, length in (("encoder", self.input_length), ("decoder", self.target_length)):
      shapes[f"{side}_segment_ids"] = length
      shapes[f"{side}_positions"] = length
    shapes.update(encoder_input_tokens=self.input_length, decoder_input_tokens=self.target_length,
                  decoder_target_tokens=self.target_length, decoder_loss_weights=self.target_length)
    return shapes

  def _fill_row(self, rng, features, row):
    examples = int(rng.integers(1, self.max_examples_per_row + 1))
    budget = max(2, int(min(self.input_length, self.target_length) * self.fill_fraction) // examples)
    enc_at = dec_at = 0
    for segment in range(1, examples + 1):
      length = int(rng.integers(1, budget))  # tokens before EOS
      if enc_at + length + 1 > self.input_length or dec_at + length + 1 > self.target_length:
        break
      tokens = rng.integers(FIRST_TOKEN, self.vocab_size - 1, size=length)
      inputs = np.append(tokens, 1)
      targets = np.append(tokens[::-1] + 1, 1)
      n = length + 1
      features["encoder_input_tokens"][row, enc_at:enc_at + n] = inputs
      features["encoder_segment_ids"][row, enc_at:enc_at + n] = segment
      features["encoder_positions"][row, enc_at:enc_at + n] = np.arange(n)
      features["decoder_target_tokens"][row, dec_at:dec_at + n] = targets
      features["decoder_input_tokens"][row, dec_at:dec_at + n] = np.append(0, targets[:-1])
      features["decoder_loss_weights"][row, dec_at:dec_at + n] = 1
      features["decoder_segment_ids"][row, dec_at:dec_at + n] = segment
      features["decoder_positions"][row, dec_at:dec_at + n] = np.arange(n)
      enc_at += n
      dec_at += n


class SyntheticDecoderBatches(SyntheticBatches):
  """The same seeded, resumable stream for decoder-only models: one packed `inputs EOS targets EOS` stream per
  row of length inputs + targets (flan.data.decoder_features.synthetic_decoder_batch), converter "decoder"
  or "prefix_lm"."""

  def __init__(self, *, converter="decoder", bos_id=0, **kwargs):
    super().__init__(**kwargs)
    decoder_features.check_converter(converter)
    self.converter = converter
    self.bos_id = bos_id

  def __next__(self):
    batch_index = self.batches_read
    self.batches_read += 1
    return decoder_features.synthetic_decoder_batch(
        seed=self.seed, batch_index=batch_index, first_row=self.shard_index * self.rows, rows=self.rows,
        length=self.input_length + self.target_length, vocab_size=self.vocab_size, converter=self.converter,
        pack=self.pack, bos_id=self.bos_id, max_examples_per_row=self.max_examples_per_row,
        fill_fraction=self.fill_fraction)
