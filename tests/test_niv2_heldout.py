"""NIv2 for training: held-out (MMLU) tasks never reach batches; the per-task cap is keyed by the full name."""
import pathlib

import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "tfds"
MMLU_TASK = "task685_mmmlu_answer_generation_anatomy"
SAME_ID = ("task184_break_generate_question", "task184_snli_entailment_to_neutral_text_modification")
ORDINARY = "task001_quoref_question_generation"


def _rows():
  rows = []
  for index in range(12):  # interleaved, as the TFDS stream mixes tasks
    for task in (MMLU_TASK,) + SAME_ID:
      rows.append({"task_name": task, "id": f"{task}-{index}", "definition": f"Definition of {task}.",
                   "input": f"{task} input {index}", "output": f"{task} output {index}", "source": "mock"})
    if index < 3:
      rows.append({"task_name": ORDINARY, "id": f"{ORDINARY}-{index}", "definition": "Write a question.",
                   "input": f"{ORDINARY} input {index}", "output": f"{ORDINARY} output {index}", "source": "mock"})
  return rows


def _as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False):
  del split, decoders, read_config, shuffle_files
  if self.name != "natural_instructions":
    raise ValueError(f"this test mocks natural_instructions only, not {self.name}")
  rows = _rows()
  return tf.data.Dataset.from_tensor_slices({key: [row[key] for row in rows] for key in rows[0]})


@pytest.fixture(scope="module")
def niv2(shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  from flan.mixtures import niv2 as niv2_module  # pylint: disable=import-outside-toplevel
  with tfds.testing.mock_data(as_dataset_fn=_as_dataset, data_dir=str(FIXTURES)):
    yield niv2_module
  del os.environ["FLAN_VOCAB_PATH"]


def test_heldout_table_names_every_mmlu_task_and_nothing_else():
  from flan.data import niv2_heldout  # pylint: disable=import-outside-toplevel
  assert niv2_heldout.heldout_reason(MMLU_TASK) == "mmlu_answer_generation"
  assert niv2_heldout.heldout_reason("task664_mmmlu_answer_generation_abstract_algebra") == "mmlu_answer_generation"
  for name in SAME_ID + (ORDINARY, "task686_xyz"):
    assert niv2_heldout.heldout_reason(name) is None
  kept = tf.data.Dataset.from_tensor_slices({"task_name": [MMLU_TASK, ORDINARY, "task700_mmmlu_answer_generation_x"]})
  assert [ex["task_name"].decode() for ex in niv2_heldout.drop_heldout_tasks(kept).as_numpy_iterator()] == [ORDINARY]
  assert all(rule.reason and rule.source for rule in niv2_heldout.RULES)


def test_tasks_sharing_a_numeric_id_each_get_their_cap(niv2):
  dataset = niv2.training_examples(tf.data.Dataset.from_tensor_slices(
      {k: [r[k] for r in _rows()] for k in ("task_name", "input")}), cap=5)
  names = [ex["task_name"].decode() for ex in dataset.repeat(2).as_numpy_iterator()]
  assert names.count(SAME_ID[0]) == names.count(SAME_ID[1]) == 2 * 5  # 5 per pass; the count restarts per pass
  assert names.count(ORDINARY) == 2 * 3 and MMLU_TASK not in names


def test_mmlu_task_never_reaches_niv2_or_flan2022_batches(niv2):
  lengths = {"inputs": 256, "targets": 32}
  for variant in ("zs", "fs"):
    examples = list(seqio.get_mixture_or_task(f"niv2:{variant}").get_dataset(
        lengths, split="train", shuffle=False).as_numpy_iterator())
    texts = [ex["inputs_pretokenized"].decode() for ex in examples]
    assert len(texts) == 2 * 12 + 3, variant  # capped at 5,000: nothing else dropped
    assert not any("mmmlu" in text for text in texts), variant
    assert any(SAME_ID[1] in text for text in texts) and any(ORDINARY in text for text in texts)
  dataset = seqio.get_dataset(
      "flan2022_niv2", task_feature_lengths=lengths, dataset_split="train", shuffle=True, seed=3, num_epochs=None,
      feature_converter=seqio.EncDecFeatureConverter(pack=True))
  vocabulary = seqio.get_mixture_or_task("niv2:zs").output_features["inputs"].vocabulary
  for batch in dataset.batch(4).take(10).as_numpy_iterator():
    for row in batch["encoder_input_tokens"]:
      assert "mmmlu" not in vocabulary.decode(row.tolist())
  from flan.mixtures import flan2022  # pylint: disable=import-outside-toplevel,unused-import
  flan2022_tasks = {task.name: task for task in seqio.get_mixture_or_task("flan2022").tasks}
  for variant in ("zs", "fs"):  # flan2022 trains on these very task objects, with the same filter
    assert flan2022_tasks[f"niv2:{variant}"] is seqio.get_mixture_or_task(f"niv2:{variant}")
