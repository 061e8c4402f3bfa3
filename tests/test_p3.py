"""T0-SF from P3 as published: TFRecord files in P3's layout, read through flan.data.p3."""
import pytest
import seqio
import tensorflow as tf

from flan import errors
from flan.data import p3
from flan.data import p3_prompts

PROMPTS = {
    # prompt: rows of (inputs_pretokenized, targets_pretokenized, answer_choices)
    "sciq_Direct_Question": [
        ("Answer the question: What do plants make from sunlight?\nA:", " sugar", ["water", "sugar", "salt"]),
        ("Answer the question: What pulls objects toward Earth?\nA:", " gravity", ["gravity", "light"])],
    "cos_e_v1.11_question_option_description_text": [
        ("Where is a pen kept? Options: - desk - ocean\nAnswer:", " desk", ["desk", "ocean"])],
    "wiki_bio_who": [("Facts:\n- name: Ada Lovelace\nWho is this about?", " Ada Lovelace", [])],
}


def _write_p3(root):
  for prompt, rows in PROMPTS.items():
    folder = root / "data" / prompt
    folder.mkdir(parents=True)
    for split in ("train", "validation"):
      with tf.io.TFRecordWriter(str(folder / f"{split}.tfrecord-00000-of-00001")) as writer:
        for inputs, targets, choices in rows:
          feature = {
              "inputs_pretokenized": tf.train.Feature(bytes_list=tf.train.BytesList(value=[inputs.encode()])),
              "targets_pretokenized": tf.train.Feature(bytes_list=tf.train.BytesList(value=[targets.encode()])),
              "inputs": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, 4, 5])),  # P3 also stores ids
          }
          if choices:
            feature["answer_choices"] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[c.encode() for c in choices]))
          writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


@pytest.fixture(scope="module")
def t0_sf(shared_data, tmp_path_factory):
  import os  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("p3")
  _write_p3(root)
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  os.environ["FLAN_P3_DIR"] = str(root)
  from flan.mixtures import t0_sf  # pylint: disable=import-outside-toplevel
  yield t0_sf
  del os.environ["FLAN_VOCAB_PATH"], os.environ["FLAN_P3_DIR"]


def _texts(task, split="train"):
  dataset = seqio.get_mixture_or_task(task).get_dataset(None, split=split, shuffle=False)
  return [(ex["inputs_pretokenized"].decode(), ex["targets_pretokenized"].decode(), ex["inputs"][-1])
          for ex in dataset.as_numpy_iterator()]


def test_the_193_prompts_of_t0_sf():
  assert len(p3_prompts.PROMPTS) == 193 == len(set(p3_prompts.PROMPTS))
  assert not any(p.endswith("_score_eval") for p in p3_prompts.PROMPTS)
  assert {p3_prompts.dataset_of(p) for p in p3_prompts.PROMPTS} == set(p3_prompts.DATASETS)
  assert p3_prompts.TRAIN_EXAMPLES["duorc_SelfRC_build_story_around_qa"] == 60_094


def test_separated_options_only_where_the_prompt_does_not_show_them():
  assert p3.separate_options("Which? A: x", ["water", "sugar"]) == ["water", "sugar"]
  assert p3.separate_options("Options: - desk - ocean", ["desk", "ocean"]) == []
  assert p3.separate_options("Who?", []) == []


def test_p3_prompts_read_from_files_in_p3_layout(t0_sf):
  (inputs, target, last), second = _texts("p3_sciq_Direct_Question:zs_noopt")
  assert inputs == "Answer the question: What do plants make from sunlight?\nA:" and target == "sugar" and last == 1
  assert second[1] == "gravity"
  for inputs, target, _ in _texts("p3_sciq_Direct_Question:zs_opt"):  # choices the prompt did not show
    assert all(choice in inputs for choice in ("water", "sugar", "salt") if "sunlight" in inputs)
    assert inputs.startswith("Answer the question: What") and len(inputs) > 60
  (inputs, target, _), = _texts("p3_cos_e_v1.11_question_option_description_text:zs_opt")
  assert inputs == "Where is a pen kept? Options: - desk - ocean\nAnswer:" and target == "desk"  # already shown
  (inputs, target, _), = _texts("p3_wiki_bio_who:zs_noopt", split="validation")
  assert target == "Ada Lovelace" and inputs.startswith("Facts:")
  (inputs, target, _), _ = _texts("p3_sciq_Direct_Question:fs_noopt")  # the other train example as exemplar
  assert "What pulls objects toward Earth?" in inputs and "gravity" in inputs and target == "sugar"


def test_rates_come_from_the_recorded_counts_before_download(t0_sf):
  mixture = seqio.get_mixture_or_task("flan2022_t0sf")
  assert len(mixture.tasks) == 193 * 4  # zs/fs x options/no options
  rate = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rate["p3_amazon_polarity_user_satisfied:zs_opt"] == 20_000 / 4
  assert rate["p3_quarel_logic_test:fs_noopt"] == 1_941 / 4 and rate["p3_wiki_qa_Jeopardy_style:zs_noopt"] == 1_040 / 4


def test_missing_files_name_the_prompt_and_pattern(t0_sf):
  with pytest.raises(errors.InputError, match=r"P3 prompt 'dream_baseline': no files match .*data/dream_baseline/"
                                               r"train.tfrecord-\*-of-\*"):
    _texts("p3_dream_baseline:zs_opt")


def test_unset_directory_is_a_config_error(monkeypatch):
  monkeypatch.delenv("FLAN_P3_DIR", raising=False)
  with pytest.raises(errors.ConfigError, match="FLAN_P3_DIR"):
    p3.p3_data_dir()
