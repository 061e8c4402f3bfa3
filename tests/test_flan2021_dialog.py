"""Flan 2021 datasets added from TFDS builders, and the dialog submixture, under tfds.testing.mock_data."""
import pathlib

import pytest
import seqio
import tensorflow_datasets as tfds

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "tfds"
ADDED = ("common_gen", "e2e_nlg", "wiki_lingua_english_en", "para_crawl_enes", "quac", "unified_qa_science_inst",
         "opinion_abstracts_idebate", "newsroom")
DIALOG = ("wiki_dialog", "qrecc")
LENGTHS = {"inputs": 256, "targets": 64}


@pytest.fixture(scope="module")
def registered(shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  from flan.mixtures import flan2022  # pylint: disable=import-outside-toplevel,unused-import
  with tfds.testing.mock_data(num_examples=4, num_sub_examples=3, data_dir=str(FIXTURES)):
    yield
  del os.environ["FLAN_VOCAB_PATH"]


def test_batches_from_every_added_builder_and_dialog(registered):
  from flan.data import rates  # pylint: disable=import-outside-toplevel
  tasks = [f"{name}:zs" for name in ADDED + DIALOG] + [f"{name}:inverted" for name in DIALOG]
  for task in tasks:
    example = next(seqio.get_mixture_or_task(task).get_dataset(None, split="train", shuffle=False)
                   .as_numpy_iterator())
    assert example["inputs"][-1] == 1 and example["targets_pretokenized"], task
  rates.register_mixture("test_added_packed", [(t, 1.0) for t in tasks])
  dataset = seqio.get_dataset("test_added_packed", task_feature_lengths=LENGTHS, dataset_split="train",
                              shuffle=False, num_epochs=None, feature_converter=seqio.EncDecFeatureConverter(pack=True))
  batch = next(dataset.batch(4).as_numpy_iterator())
  assert batch["encoder_input_tokens"].shape == (4, 256) and batch["decoder_segment_ids"].max() >= 1


def test_dialog_examples_are_a_conversation_and_its_next_turn(registered):
  example = next(seqio.get_mixture_or_task("wiki_dialog:zs").get_dataset(LENGTHS, split="train", shuffle=False)
                 .as_numpy_iterator())
  inputs = example["inputs_pretokenized"].decode()
  assert "Speaker 1: " in inputs and "Speaker 2: " in inputs and "Speaker 3" not in inputs  # two turns of three
  assert example["targets_pretokenized"].decode() not in inputs


def test_muffin_holds_the_added_datasets_once_each(registered):
  muffin = seqio.get_mixture_or_task("flan2022_muffin")
  datasets = {t.name.split(":")[0] for t in muffin.tasks}
  assert set(ADDED) <= datasets and "glue_rte" not in datasets and "xsum" in datasets
  task = seqio.get_mixture_or_task("unified_qa_science_inst:zs")
  assert muffin.get_rate(task) == pytest.approx(605 / 2)  # fixture size; zs and fs share it
  dialog = seqio.get_mixture_or_task("flan2022_dialog")
  rate = {t.name: dialog.get_rate(t) for t in dialog.tasks}
  assert rate["wiki_dialog:zs"] == pytest.approx(200_000 / 2) and rate["qrecc:inverted"] == pytest.approx(63_501 * 0.3)


def test_proportion_set_c_gives_dialog_its_share():
  from flan.data import audit  # pylint: disable=import-outside-toplevel
  report = audit.audit("flan2022_c")
  shares = {s["submixture"]: s["ours"] for s in report["submixtures"]}
  assert shares == pytest.approx({"muffin": 40.0, "t0sf": 30.0, "niv2": 10.0, "cot": 10.0, "dialog": 10.0}, abs=0.1)


def test_datasets_that_are_not_articles_have_their_own_summary_templates(registered):
  from flan.data import registration  # pylint: disable=import-outside-toplevel
  families = {name: registration.DATASETS[name][0].family
              for name in ("samsum", "opinion_abstracts_rotten_tomatoes", "opinion_abstracts_idebate", "xsum")}
  assert families == {"samsum": "dialogue_summary", "opinion_abstracts_rotten_tomatoes": "critics_consensus",
                      "opinion_abstracts_idebate": "debate_claim", "xsum": "summarization"}
  example = next(seqio.get_mixture_or_task("opinion_abstracts_idebate:zs").get_dataset(
      None, split="train", shuffle=False).as_numpy_iterator())
  inputs = example["inputs_pretokenized"].decode().lower()
  assert any(word in inputs for word in ("claim", "argument", "position", "thesis", "prove")), inputs
