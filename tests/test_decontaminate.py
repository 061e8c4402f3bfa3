"""Removal of training examples that overlap the benchmarks (flan.data.decontaminate), opt-in by gin."""
import functools
import random

import pytest

pytest.importorskip("seqio")

import gin  # noqa: E402  pylint: disable=g-import-not-at-top
import numpy as np  # noqa: E402  pylint: disable=g-import-not-at-top
import seqio  # noqa: E402  pylint: disable=g-import-not-at-top
import tensorflow as tf  # noqa: E402  pylint: disable=g-import-not-at-top

from flan import gin_args  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import batches  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import contamination_index  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import contamination_match  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import decontaminate  # noqa: E402  pylint: disable=g-import-not-at-top

VOCAB = seqio.ByteVocabulary()
ITEM = ("A train leaves the station at noon travelling at sixty miles per hour while a second train leaves "
        "two hours later at ninety miles per hour. When does the second train catch up?")
WORDS = ["amber", "birch", "cobalt", "dune", "ember", "fjord", "glade", "heron", "ivory", "jasper", "kelp"]


def _rows():
  rng = random.Random(0)
  rows = [(" ".join(rng.choice(WORDS) for _ in range(25)), rng.choice(WORDS)) for _ in range(30)]
  rows[7] = (f"Solve: {ITEM}", "At 6 pm.")
  rows[19] = ("PROBLEM -- " + ITEM.upper().replace(".", "!!").replace(" at ", "   at\t"), "6pm")
  return rows


def _register(name, rows, dataset_name):
  """A task shaped like the registered Flan tasks: render -> filter_overlapping -> tokenize -> EOS."""
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)

  def dataset_fn(split, shuffle_files, seed=None):
    del split, shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices({"question": [r[0] for r in rows], "answer": [r[1] for r in rows]})

  def render(dataset):
    return dataset.map(lambda ex: {"inputs": ex["question"], "targets": ex["answer"]})

  seqio.TaskRegistry.add(
      name, source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
      preprocessors=[render, functools.partial(decontaminate.filter_overlapping, dataset_name=dataset_name),
                     seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
      output_features={"inputs": seqio.Feature(VOCAB), "targets": seqio.Feature(VOCAB)})
  return name


@pytest.fixture
def index_path(tmp_path):
  path = tmp_path / "index.npz"
  items = [contamination_index.EvalItem("mgsm/en/0", "mgsm", "en", ITEM),
           contamination_index.EvalItem("mgsm/en/1", "mgsm", "en", "An unrelated question about " * 3)]
  contamination_index.Index.build(items, n=13, benchmarks=["mgsm"]).save(path)
  decontaminate.reset_counts()
  yield str(path)
  gin.clear_config()
  decontaminate.reset_counts()


def _batch_texts(name):
  iterator = batches.make_batch_iterator(
      name, feature_lengths={"inputs": 256, "targets": 16}, batch_size=8, pack=False, shuffle=False,
      repeat=False, shard_index=0, num_shards=1)
  texts = []
  try:
    for batch in iterator:
      for row in batch["encoder_input_tokens"]:
        if np.any(row):
          texts.append(VOCAB.decode([int(t) for t in row if t > 0]))
  finally:
    iterator.close()
  return texts


def test_gin_binding_removes_copied_examples_from_batches_and_counts_them(index_path):
  rows = _rows()
  name = _register("decontaminate_test_task:zs", rows, "decontaminate_test_task")
  gin_args.parse_gin(bindings=[f"flan.data.decontaminate.index_path = '{index_path}'"], search_paths=[])
  texts = _batch_texts(name)
  assert len(texts) == 28
  assert sorted(texts) == sorted(inputs for i, (inputs, _) in enumerate(rows) if i not in (7, 19))
  assert not any("TRAIN" in t.upper() for t in texts)
  assert decontaminate.dropped_counts() == {"decontaminate_test_task": {"checked": 30, "dropped": 2}}


def test_without_the_binding_nothing_is_dropped(index_path):
  del index_path
  rows = _rows()
  name = _register("decontaminate_test_off:zs", rows, "decontaminate_test_off")
  texts = _batch_texts(name)
  assert sorted(texts) == sorted(inputs for inputs, _ in rows)
  assert decontaminate.dropped_counts() == {}


def test_removal_drops_exactly_what_the_scan_reports(index_path):
  rows = _rows()
  index = decontaminate.load_index(index_path)
  result = contamination_match.empty_result(mixture="t", split="train", index=index, max_examples=None,
                                            shard=(0, 1), tasks=["t:zs"])
  contamination_match.Matcher(index, result).add_batch("t:zs", 0, rows)
  reported = sorted(sample["example_index"] for sample in result["samples"]["mgsm/en/0"].values())
  mask = decontaminate.overlapping(index, [r[0] for r in rows], [r[1] for r in rows])
  assert np.flatnonzero(mask).tolist() == [7, 19] and result["tasks"]["t:zs"]["overlapping"] == 2
  assert reported == [7]  # one sample per (item, task): the first overlapping example
  assert result["hits"] == {"mgsm/en/0": {"t:zs": 2}}


def test_non_text_features_are_rejected_with_the_dataset_name(index_path):
  dataset = tf.data.Dataset.from_tensor_slices({"inputs": [[1, 2]], "targets": [[3]]})
  with pytest.raises(ValueError, match="decontamination of 'tokenized_ds' needs the rendered text"):
    decontaminate.filter_overlapping(dataset, dataset_name="tokenized_ds", index_path=index_path)


def test_examples_with_unbatchable_features_are_filtered_one_by_one(index_path):
  rows = _rows()
  dataset = tf.data.Dataset.from_generator(
      lambda: ({"inputs": i, "targets": t, "extra": np.arange(k % 3)} for k, (i, t) in enumerate(rows)),
      output_signature={"inputs": tf.TensorSpec([], tf.string), "targets": tf.TensorSpec([], tf.string),
                        "extra": tf.TensorSpec([None], tf.int64)})
  kept = list(decontaminate.filter_overlapping(dataset, dataset_name="ragged", index_path=index_path)
              .as_numpy_iterator())
  assert [ex["inputs"].decode() for ex in kept] == [r[0] for i, r in enumerate(rows) if i not in (7, 19)]
  assert [len(ex["extra"]) for ex in kept] == [k % 3 for k in range(30) if k not in (7, 19)]
  assert decontaminate.dropped_counts() == {"ragged": {"checked": 30, "dropped": 2}}
