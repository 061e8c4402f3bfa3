"""Tests for flan.data.batches: exact resume, per-host shards, determinism, counted truncation."""
import json

import numpy as np
import pytest

seqio = pytest.importorskip("seqio")
tf = pytest.importorskip("tensorflow")

from flan.data import batches  # noqa: E402  pylint: disable=g-import-not-at-top

VOCAB = seqio.PassThroughVocabulary(size=5000)
LENGTHS = {"inputs": 24, "targets": 12}


def _register(name, num_examples, offset, long_every=0):
  """A task of token examples whose first token is a unique tag (offset + i + 2)."""
  if name in seqio.TaskRegistry.names():
    return
  rng = np.random.default_rng(offset)
  inputs, targets = [], []
  for i in range(num_examples):
    tag = offset + i + 2
    n_in, n_tg = int(rng.integers(1, 16)), int(rng.integers(1, 8))
    if long_every and i % long_every == 0:
      n_in, n_tg = 30, 20
    inputs.append([tag] + rng.integers(2, 1000, n_in).tolist())
    targets.append([tag] + rng.integers(2, 1000, n_tg).tolist())

  def dataset_fn(split, shuffle_files, seed=None):
    del split, shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices({
        "inputs": tf.ragged.constant(inputs, dtype=tf.int32),
        "targets": tf.ragged.constant(targets, dtype=tf.int32)})

  seqio.TaskRegistry.add(
      name,
      source=seqio.FunctionDataSource(dataset_fn, splits=["train"],
                                      num_input_examples={"train": num_examples}),
      output_features={"inputs": seqio.Feature(VOCAB, add_eos=False),
                       "targets": seqio.Feature(VOCAB, add_eos=False)},
      preprocessors=[], shuffle_buffer_size=1000)


_register("test_batches_a", 300, offset=0)
_register("test_batches_b", 200, offset=10000)
_register("test_batches_long", 40, offset=20000, long_every=4)
if "test_batches_mix" not in seqio.MixtureRegistry.names():
  seqio.MixtureRegistry.add("test_batches_mix", [("test_batches_a", 3.0), ("test_batches_b", 1.0)])


def _iterator(name="test_batches_a", **kwargs):
  args = dict(feature_lengths=LENGTHS, batch_size=4, seed=1, shard_index=0, num_shards=1,
              chunk_size=64)
  args.update(kwargs)
  return batches.make_batch_iterator(name, **args)


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _assert_same(batches_a, batches_b):
  assert len(batches_a) == len(batches_b)
  for a, b in zip(batches_a, batches_b):
    assert set(a) == set(b)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _tags(batch_list):
  """Tags (first token of each packed segment) of the examples in the batches, in order."""
  tags = []
  for batch in batch_list:
    tokens = batch["encoder_input_tokens"]
    if "encoder_positions" in batch:
      starts = (batch["encoder_positions"] == 0) & (batch["encoder_segment_ids"] > 0)
      tags.extend(tokens[starts].tolist())
    else:
      tags.extend(t for t in tokens[:, 0].tolist() if t)
  return tags


@pytest.mark.parametrize("kwargs,drawn", [
    (dict(packer="flan"), 3), (dict(packer="flan"), 7), (dict(packer="seqio"), 5),
    (dict(pack=False), 7), (dict(name="test_batches_mix"), 5)])
def test_restored_iterator_continues_exactly(kwargs, drawn):
  # 64 examples make ~10 rows, so the draws cross chunk boundaries and stop mid-chunk.
  first = _iterator(**kwargs)
  _take(first, drawn)
  state = json.loads(json.dumps(first.get_state()))
  expected = _take(first, 6)
  resumed = _iterator(**kwargs)
  resumed.set_state(state)
  _assert_same(_take(resumed, 6), expected)
  assert resumed.stats() == first.stats()


def test_no_example_lost_or_repeated_in_one_epoch():
  for packer in ("flan", "seqio"):
    it = _iterator(packer=packer, repeat=False, shuffle=True)
    tags = _tags(list(it))
    assert sorted(tags) == list(range(2, 302)), packer
    assert it.stats()["examples_read"] == 300


def test_resume_over_an_epoch_sees_every_example_once():
  whole = _tags(list(_iterator(repeat=False)))
  first = _iterator(repeat=False)
  head = _take(first, 5)
  resumed = _iterator(repeat=False)
  resumed.set_state(first.get_state())
  assert _tags(head) + _tags(list(resumed)) == whole


def test_shards_are_disjoint_and_cover_the_single_host_stream():
  single = _tags(list(_iterator(repeat=False, shuffle=False, batch_size=4)))
  shards = [_tags(list(_iterator(repeat=False, shuffle=False, batch_size=4, shard_index=i,
                                 num_shards=2))) for i in range(2)]
  assert not set(shards[0]) & set(shards[1])
  assert sorted(shards[0] + shards[1]) == sorted(single) == list(range(2, 302))
  batch = next(_iterator(batch_size=4, shard_index=1, num_shards=2))
  assert batch["encoder_input_tokens"].shape == (2, 24)  # this host's rows


def test_deterministic_given_seed():
  _assert_same(_take(_iterator(seed=5), 5), _take(_iterator(seed=5), 5))
  assert _tags(_take(_iterator(seed=5), 5)) != _tags(_take(_iterator(seed=6), 5))


def test_fixed_shapes_and_final_padding_rows():
  it = _iterator(repeat=False, batch_size=8)
  drawn = list(it)
  for batch in drawn:
    for key, value in batch.items():
      assert value.shape == (8, 12 if key.startswith("decoder") else 24), key
      assert value.dtype == np.int32
  stats = it.stats()
  assert stats["rows"] == 8 * len(drawn)
  assert stats["encoder_tokens"] == sum(int((b["encoder_input_tokens"] != 0).sum()) for b in drawn)
  last = drawn[-1]
  assert stats["padding_rows"] == int((last["decoder_loss_weights"].sum(axis=1) == 0).sum())


def test_over_length_examples_are_truncated_and_counted():
  it = _iterator("test_batches_long", repeat=False)
  tags = _tags(list(it))
  stats = it.stats()
  assert sorted(tags) == list(range(20002, 20042))
  assert stats["inputs_truncated"] == 10 and stats["targets_truncated"] == 10
  assert stats["inputs_tokens_cut"] == 10 * (31 - 24)
  assert stats["targets_tokens_cut"] == 10 * (21 - 12)
  assert stats["examples_dropped"] == 0


@pytest.mark.parametrize("packer", ["flan", "seqio"])
def test_over_length_examples_can_be_dropped(packer):
  it = _iterator("test_batches_long", repeat=False, overlength="drop", packer=packer)
  tags = _tags(list(it))
  assert sorted(tags) == [20002 + i for i in range(40) if i % 4]
  assert it.stats()["examples_dropped"] == 10
  assert it.stats()["inputs_truncated"] == 0


def test_mixture_draws_from_both_tasks():
  tags = np.array(_tags(_take(_iterator("test_batches_mix"), 30)))
  from_b = np.mean(tags >= 10002)
  assert 0.1 < from_b < 0.45, from_b  # rate 1 of 4


def test_bad_arguments_fail_clearly():
  with pytest.raises(ValueError, match="batch_size 5 must be a positive multiple of num_shards 2"):
    _iterator(batch_size=5, num_shards=2, shard_index=0)
  with pytest.raises(ValueError, match="packer must be one of"):
    _iterator(packer="greedy")
  with pytest.raises(ValueError, match="test_batches_a"):
    _iterator("test_batches_aa")
  state = _iterator(seed=1).get_state()
  with pytest.raises(ValueError, match="seed=1 but this iterator has seed=2"):
    _iterator(seed=2).set_state(state)


def test_shard_defaults_to_jax_process():
  it = batches.make_batch_iterator("test_batches_a", feature_lengths=LENGTHS, batch_size=4,
                                   chunk_size=64)
  assert (it.config.shard_index, it.config.num_shards) == (0, 1)
  with pytest.raises(ValueError, match="give both shard_index and num_shards"):
    batches.make_batch_iterator("test_batches_a", batch_size=4, shard_index=0)


def test_close_stops_and_set_state_restarts():
  it = _iterator()
  _take(it, 2)
  state = it.get_state()
  expected = _take(it, 2)
  after = it.get_state()
  it.close()
  with pytest.raises(StopIteration):
    next(it)
  assert it.get_state() == after
  it.set_state(state)
  _assert_same(_take(it, 2), expected)
