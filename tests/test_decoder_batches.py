"""Decoder-only batches through flan.data.batches: seqio-identical rows, exact resume, separators, errors."""
import json

import numpy as np
import pytest

seqio = pytest.importorskip("seqio")
tf = pytest.importorskip("tensorflow")

from flan import errors  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import batches  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import decoder_features  # noqa: E402  pylint: disable=g-import-not-at-top

VOCAB = seqio.PassThroughVocabulary(size=5000, eos_id=1)
LENGTHS = {"inputs": 16, "targets": 8}
ROW = 24
EOS = 1


def _register(name, num_examples, offset, *, add_eos=True, long_every=0):
  """Token examples (EOS appended by the task) whose first token is a unique tag (offset + i + 2)."""
  if name in seqio.TaskRegistry.names():
    return
  rng = np.random.default_rng(offset)
  inputs, targets = [], []
  for i in range(num_examples):
    tag = offset + i + 2
    n_in, n_tg = int(rng.integers(0, 12)), int(rng.integers(0, 6))
    if long_every and i % long_every == 0:
      n_in, n_tg = 25, 12
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
      output_features={"inputs": seqio.Feature(VOCAB, add_eos=add_eos),
                       "targets": seqio.Feature(VOCAB, add_eos=add_eos)},
      preprocessors=[seqio.preprocessors.append_eos], shuffle_buffer_size=1000)


_register("test_decoder_batches", 150, offset=0)
_register("test_decoder_batches_long", 40, offset=30000, long_every=4)
_register("test_decoder_batches_no_eos", 10, offset=40000, add_eos=False)


def _iterator(name="test_decoder_batches", **kwargs):
  args = dict(feature_lengths=LENGTHS, batch_size=4, seed=1, shard_index=0, num_shards=1, chunk_size=48,
              converter="prefix_lm")
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


def _segments(batch_list):
  """(tag, inputs part, targets part) of every example in packed decoder batches, in order."""
  out = []
  for batch in batch_list:
    for r in range(batch["decoder_target_tokens"].shape[0]):
      seg = batch["decoder_segment_ids"][r]
      for s in np.unique(seg[seg > 0]):
        stream = batch["decoder_target_tokens"][r][seg == s]
        weights = batch["decoder_loss_weights"][r][seg == s]
        out.append((int(stream[0]), stream[weights == 0], stream[weights == 1]))
  return out


def test_unpacked_batches_equal_seqio_decoder_feature_converter():
  ours = list(_iterator(pack=False, shuffle=False, repeat=False, batch_size=10))
  theirs = seqio.get_dataset(
      "test_decoder_batches", task_feature_lengths=LENGTHS, dataset_split="train", shuffle=False,
      num_epochs=1, feature_converter=seqio.DecoderFeatureConverter(pack=False)).batch(10)
  theirs = list(theirs.as_numpy_iterator())
  assert len(ours) == len(theirs) == 15
  for a, b in zip(ours, theirs):
    assert set(a) == set(b) == set(decoder_features.feature_names("prefix_lm", pack=False))
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("kwargs,drawn", [
    (dict(packer="flan"), 3), (dict(packer="flan", converter="decoder", bos_id=7), 5),
    (dict(packer="seqio"), 4), (dict(pack=False), 10), (dict(bos_id=None), 4)])
def test_restored_iterator_continues_exactly(kwargs, drawn):
  # A chunk of 48 examples makes ~23 packed rows (6 batches; a seqio window of 24 examples ~4; unpacked 12):
  # the draws stop mid-chunk and the next ones cross a chunk boundary.
  first = _iterator(**kwargs)
  _take(first, drawn)
  state = json.loads(json.dumps(first.get_state()))
  assert state["config"]["converter"] == kwargs.get("converter", "prefix_lm")
  expected = _take(first, 4)
  resumed = _iterator(**kwargs)
  resumed.set_state(state)
  _assert_same(_take(resumed, 4), expected)
  assert resumed.stats() == first.stats()


@pytest.mark.parametrize("packer", ["flan", "seqio"])
@pytest.mark.parametrize("converter", ["decoder", "prefix_lm"])
def test_one_epoch_has_every_example_once_with_loss_on_its_targets(packer, converter):
  it = _iterator(packer=packer, converter=converter, repeat=False)
  drawn = list(it)
  expected_features = set(decoder_features.feature_names(converter, pack=True))
  for batch in drawn:
    assert set(batch) == expected_features
    for value in batch.values():
      assert value.shape == (4, ROW) and value.dtype == np.int32
  segments = _segments(drawn)
  assert sorted(tag for tag, _, _ in segments) == list(range(2, 152))
  for tag, source, target in segments:  # inputs EOS targets EOS, the loss on targets + EOS only
    assert source[0] == tag and source[-1] == EOS and target[0] == tag and target[-1] == EOS
  stats = it.stats()
  assert stats["examples_read"] == 150
  real = sum(len(s) + len(t) for _, s, t in segments)
  assert stats["decoder_tokens"] == real and stats["encoder_tokens"] == 0
  assert stats["decoder_fill"] == pytest.approx(real / (stats["rows"] * ROW))


def test_truncated_inputs_keep_the_separator():
  it = _iterator("test_decoder_batches_long", repeat=False)
  segments = _segments(list(it))
  stats = it.stats()
  assert stats["inputs_truncated"] == 10 and stats["targets_truncated"] == 10
  assert stats["inputs_tokens_cut"] == 10 * (27 - 16)
  long_ones = [(tag, s, t) for tag, s, t in segments if (tag - 30002) % 4 == 0]
  assert len(long_ones) == 10
  for tag, source, target in long_ones:
    assert len(source) == 16 and source[0] == tag and source[-1] == EOS  # separator kept in the last slot
    assert len(target) == 8 and target[0] == tag


def test_task_without_eos_is_refused_by_name():
  with pytest.raises(errors.ConfigError,
                     match="'test_decoder_batches_no_eos''s 'inputs' feature to end in EOS"):
    _iterator("test_decoder_batches_no_eos")


def test_bad_converter_arguments_fail_clearly():
  with pytest.raises(errors.ConfigError, match="converter must be one of"):
    _iterator(converter="prefix")
  with pytest.raises(errors.ConfigError, match="bos_id=2 applies to the decoder-only converters"):
    _iterator(converter="encdec", bos_id=2)
  with pytest.raises(errors.ConfigError, match="packer='seqio' has no bos_id=None"):
    _iterator(packer="seqio", bos_id=None)


def test_resume_checks_the_converter_and_reads_states_saved_before_it_existed():
  state = _iterator(converter="prefix_lm").get_state()
  with pytest.raises(ValueError, match="converter='prefix_lm' but this iterator has converter='decoder'"):
    _iterator(converter="decoder").set_state(state)
  with pytest.raises(ValueError, match="bos_id=0 but this iterator has bos_id=3"):
    _iterator(converter="prefix_lm", bos_id=3).set_state(state)
  encdec = _iterator(converter="encdec")
  _take(encdec, 2)
  old_state = json.loads(json.dumps(encdec.get_state()))
  for key in ("converter", "bos_id"):  # the config of states saved before decoder-only batches
    del old_state["config"][key]
  expected = _take(encdec, 2)
  resumed = _iterator(converter="encdec")
  resumed.set_state(old_state)
  _assert_same(_take(resumed, 2), expected)
  with pytest.raises(ValueError, match="converter='encdec' but this iterator has converter='prefix_lm'"):
    _iterator(converter="prefix_lm").set_state(old_state)
