"""seqio registration of Flan tasks: TFDS-backed tasks under tfds.testing.mock_data, few-shot exemplars,
packed batches through seqio's feature converter, and clear errors."""
import pathlib
import re

import numpy as np
import pytest
import seqio
import tensorflow_datasets as tfds

from flan.data import names
from flan.data import registration
from flan.data import sources
from flan.data.registration import DatasetSpec

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "tfds"
LENGTHS = {"inputs": 256, "targets": 32}

# (task, variants) drawn from the TFDS-backed Muffin registrations; all have fixtures in tests/fixtures/tfds.
MOCK_TASKS = {
    "anli_r1": ("zs_opt", "fs_opt", "inverted"),
    "arc_easy": ("zs_noopt",),
    "bool_q": ("fs_noopt",),
    "cnn_dailymail": ("zs",),
    "cosmos_qa": ("zs_opt",),
    "definite_pronoun_resolution": ("zs_opt",),
    "glue_cola": ("zs_opt", "zs_noopt"),
    "glue_mnli": ("inverted",),
    "glue_mrpc": ("zs_opt",),
    "glue_sst2": ("zs_opt",),
    "glue_stsb": ("fs",),
    "natural_questions_open": ("zs", "inverted"),
    "openbookqa": ("zs_opt",),
    "piqa": ("fs_opt",),
    "squad_v1": ("zs", "inverted"),
    "super_glue_copa": ("zs_opt",),
    "super_glue_wic": ("zs_opt",),
    "trec": ("zs_opt",),
    "winogrande": ("zs_opt",),
    "niv2": ("zs",),  # niv2:fs needs exemplars of the same task: tests/test_niv2_heldout.py
}


@pytest.fixture(scope="module")
def t5_vocab(shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  from flan.mixtures import muffin, niv2  # pylint: disable=import-outside-toplevel,unused-import
  yield muffin
  del os.environ["FLAN_VOCAB_PATH"]


@pytest.fixture
def mock_tfds():
  with tfds.testing.mock_data(num_examples=4, data_dir=str(FIXTURES)):
    yield


def test_tfds_tasks_in_many_variants_under_mock_data(t5_vocab, mock_tfds):
  drawn = 0
  for dataset, suffixes in MOCK_TASKS.items():
    assert set(suffixes) <= {name.split(":")[1] for name in registration.dataset_tasks(dataset)}
    for suffix in suffixes:
      task = seqio.get_mixture_or_task(f"{dataset}:{suffix}")
      examples = list(task.get_dataset(None, split="train", shuffle=False).take(1).as_numpy_iterator())
      assert examples, task.name
      for ex in examples:
        assert ex["inputs"][-1] == 1 and ex["targets"][-1] == 1  # EOS appended
        assert len(ex["inputs"]) > 1 and ex["inputs_pretokenized"] and ex["targets_pretokenized"]
        drawn += 1
  assert len(MOCK_TASKS) >= 15 and drawn == sum(len(v) for v in MOCK_TASKS.values()) >= 23


def test_packed_batches_from_tfds_mixture(t5_vocab, mock_tfds):
  from flan.data import rates  # pylint: disable=import-outside-toplevel
  tasks = ["glue_cola:zs_opt", "anli_r1:fs_opt", "squad_v1:zs", "trec:zs_opt", "piqa:zs_noopt"]
  rates.register_mixture("test_mock_packed", [(t, 1.0) for t in tasks])
  dataset = seqio.get_dataset(
      "test_mock_packed", task_feature_lengths={"inputs": 512, "targets": 64}, dataset_split="train",
      shuffle=False, num_epochs=None, feature_converter=seqio.EncDecFeatureConverter(pack=True))
  batch = next(dataset.batch(4).as_numpy_iterator())
  assert batch["encoder_input_tokens"].shape == (4, 512)
  assert batch["decoder_target_tokens"].shape == (4, 64)
  assert batch["encoder_segment_ids"].max() >= 1 and batch["encoder_positions"].max() > 0


def test_mixture_rates_cap_by_real_example_counts(t5_vocab, mock_tfds):
  mixture = seqio.get_mixture_or_task("flan2022_muffin")
  mnli = seqio.get_mixture_or_task("glue_mnli:zs_opt")  # 392,702 train examples -> capped at 30,000
  cola = seqio.get_mixture_or_task("glue_cola:zs_opt")  # 8,551 -> not capped
  mnli_inverted = seqio.get_mixture_or_task("glue_mnli:inverted")
  assert mixture.get_rate(mnli) == pytest.approx(30_000 / 4)
  assert mixture.get_rate(cola) == pytest.approx(8_551 / 4)
  assert mixture.get_rate(mnli_inverted) == pytest.approx(30_000 * 0.3)


def _split_source():
  rows = {
      "train": [{"question": f"train question {i:02d}", "answer": f"train answer {i:02d}"} for i in range(20)],
      "validation": [{"question": f"valid question {i:02d}", "answer": f"valid answer {i:02d}"} for i in range(6)],
  }
  return sources.InMemorySource("test_split_source", lambda split: rows[split], ("train", "validation"))


def test_few_shot_exemplars_come_from_train_and_never_the_query(t5_vocab):
  budget = 120
  registration.register_dataset(DatasetSpec(name="test_fewshot", source=_split_source(), family="closed_qa",
                                            variants=["fs"]), few_shot_budget=budget)
  vocabulary = seqio.get_mixture_or_task("test_fewshot:fs").output_features["inputs"].vocabulary
  for split, count in (("validation", 6), ("train", 20)):
    examples = list(seqio.get_mixture_or_task("test_fewshot:fs").get_dataset(
        LENGTHS, split=split, shuffle=False).as_numpy_iterator())
    assert len(examples) == count
    for ex in examples:
      inputs = ex["inputs_pretokenized"].decode()
      query = ex["targets_pretokenized"].decode().replace("answer", "question")
      assert inputs.count(query) == 1  # the query, never also as an exemplar
      assert "valid answer" not in inputs  # exemplars (with their answers) only from train
      assert inputs.count("train answer") >= 1
      assert len(vocabulary.encode(inputs)) <= budget
  assert split == "train"


def test_missing_field_names_field_and_task():
  spec = DatasetSpec(name="test_missing_answer", source=_split_source(), family="closed_qa",
                     field_map=lambda ex: {"question": ex["question"]}, variants=["zs"])
  registration.register_dataset(spec)
  with pytest.raises(ValueError, match="task 'test_missing_answer': field 'answer' is missing"):
    seqio.get_mixture_or_task("test_missing_answer:zs").get_dataset(LENGTHS, split="train")
  with pytest.raises(ValueError, match="variant 'zs_opt' is not supported by template family 'closed_qa'"):
    registration.register_dataset(DatasetSpec(name="x", source=_split_source(), family="closed_qa",
                                              variants=["zs_opt"]))


def test_unknown_names_list_the_closest(t5_vocab):
  with pytest.raises(ValueError, match=r"unknown task or mixture 'glue_cola:zs_op'; closest registered names: "
                                       r"glue_cola:zs_opt"):
    names.get_task_or_mixture("glue_cola:zs_op")
  with pytest.raises(ValueError, match="closest registered names: flan2022_muffin"):
    names.get_mixture("flan2022_mufin")
  assert names.get_task("glue_cola:zs_opt").name == "glue_cola:zs_opt"


def test_templates_rotate_across_a_task(t5_vocab):
  registration.register_dataset(DatasetSpec(name="test_rotation", source=_split_source(), family="closed_qa",
                                            variants=["zs"]))
  inputs = [ex["inputs_pretokenized"].decode() for ex in seqio.get_mixture_or_task("test_rotation:zs").get_dataset(
      LENGTHS, split="train", shuffle=False).as_numpy_iterator()]
  prefixes = {text.replace(f"train question {i:02d}", "Q") for i, text in enumerate(inputs)}
  assert len(prefixes) == 10  # all ten closed_qa templates used in 20 examples
  assert np.all([f"train question {i:02d}" in text for i, text in enumerate(inputs)])


def _grouped_source():
  def rows(group, count, split):
    return [{"question": f"{group} {split} question {i:02d}", "answer": f"{group} {split} answer {i:02d}",
             "topic": group} for i in range(count)]
  splits = {
      "train": rows("alpha", 12, "train") + rows("beta", 8, "train") + rows("gamma", 1, "train"),
      "validation": rows("alpha", 3, "valid") + rows("delta", 2, "valid"),
  }
  return sources.InMemorySource("test_grouped_source", lambda split: splits[split], ("train", "validation"))


def _grouped_spec(name, **kwargs):
  return DatasetSpec(name=name, source=_grouped_source(), family="closed_qa", variants=["fs"],
                     exemplar_group_field="topic", **kwargs)


def test_grouped_exemplar_pool_keeps_the_first_of_each_group_within_the_scan():
  def questions(pool):
    return [example.fields["question"].replace(" train question ", "") for example in pool]

  spec = _grouped_spec("test_grouped_pool")
  assert questions(registration.load_exemplar_pool(spec, per_group=3)) == [
      "alpha00", "alpha01", "alpha02", "beta00", "beta01", "beta02", "gamma00"]
  assert questions(registration.load_exemplar_pool(spec, per_group=3, scan_limit=14)) == [
      "alpha00", "alpha01", "alpha02", "beta00", "beta01"]
  ungrouped = DatasetSpec(name="test_ungrouped_pool", source=_grouped_source(), family="closed_qa")
  sample = questions(registration.load_exemplar_pool(ungrouped, size=4))
  assert len(set(sample)) == 4 and sample != ["alpha00", "alpha01", "alpha02", "alpha03"]  # a sample, not the head
  assert sample == questions(registration.load_exemplar_pool(ungrouped, size=4))  # seeded
  assert sample != questions(registration.load_exemplar_pool(ungrouped, size=4, seed=1))


def test_grouped_few_shot_exemplars_come_from_the_query_group_and_never_the_query(t5_vocab):
  registration.register_dataset(_grouped_spec("test_grouped_fewshot"))
  task = seqio.get_mixture_or_task("test_grouped_fewshot:fs")
  # Few-shot prompts without an exemplar are dropped: gamma's only train example, and delta (no train
  # examples) in validation.
  for split, count in (("train", 20), ("validation", 3)):
    examples = list(task.get_dataset(LENGTHS, split=split, shuffle=False).as_numpy_iterator())
    assert len(examples) == count
    for ex in examples:
      inputs, target = ex["inputs_pretokenized"].decode(), ex["targets_pretokenized"].decode()
      group = target.split()[0]
      shown = re.findall(r"(\w+) (\w+) answer \d\d", inputs)  # exemplars: the query's answer is not shown
      assert all(exemplar == (group, "train") for exemplar in shown), inputs
      assert target not in inputs and inputs.count(target.replace("answer", "question")) == 1
      assert shown and group in ("alpha", "beta"), inputs


def test_missing_exemplar_group_field_names_it(t5_vocab):
  registration.register_dataset(_grouped_spec("test_grouped_missing", field_map=lambda ex: {
      "question": ex["question"], "answer": ex["answer"]}))
  with pytest.raises(ValueError, match="task 'test_grouped_missing': field 'topic' is missing"):
    seqio.get_mixture_or_task("test_grouped_missing:fs").get_dataset(LENGTHS, split="train")
