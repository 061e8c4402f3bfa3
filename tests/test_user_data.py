"""User data files (JSONL / TSV / CSV) as seqio tasks, their errors, and joining a mixture at a rate."""
import collections
import json

import pytest
import seqio

from flan.data import sources
from flan.data import user_data
from flan.errors import InputError

LENGTHS = {"inputs": 128, "targets": 32}


@pytest.fixture(autouse=True)
def _t5_vocabulary(shared_data, monkeypatch):
  monkeypatch.setenv("FLAN_VOCAB_PATH", str(shared_data / "t5_spiece" / "spiece.model"))


def _texts(task_or_mixture, n, split="train", **kwargs):
  dataset = seqio.get_mixture_or_task(task_or_mixture).get_dataset(LENGTHS, split=split, shuffle=False, **kwargs)
  return [(ex["inputs_pretokenized"].decode(), ex["targets_pretokenized"].decode())
          for ex in dataset.take(n).as_numpy_iterator()]


def _write_jsonl(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def test_jsonl_with_family_registers_every_variant(tmp_path):
  rows = [{"q": f"Capital number {i} {{x}}?", "a": f"city{i}"} for i in range(6)]
  name = user_data.register_user_data("user_qa", {"train": _write_jsonl(tmp_path / "qa.jsonl", rows)},
                                      family="closed_qa", fields={"question": "q", "answer": "a"})
  assert name == "user_qa"  # several variants -> a mixture of them
  assert sorted(t.name for t in seqio.get_mixture_or_task(name).tasks) == [
      "user_qa:fs", "user_qa:inverted", "user_qa:zs"]
  zero_shot = _texts("user_qa:zs", 6)
  assert [t for _, t in zero_shot] == [f"city{i}" for i in range(6)]
  assert all(f"Capital number {i} {{x}}?" in inputs for i, (inputs, _) in enumerate(zero_shot))
  inverted = _texts("user_qa:inverted", 2)
  assert inverted[0][1] == "Capital number 0 {x}?" and "city0" in inverted[0][0]


def test_raw_tsv_and_csv(tmp_path):
  (tmp_path / "raw.tsv").write_text("prompt\tresponse\nSay hi\thi\nSay bye\tbye\n")
  name = user_data.register_user_data("user_raw_tsv", str(tmp_path / "raw.tsv"),
                                      fields={"inputs": "prompt", "targets": "response"})
  assert _texts(name, 5) == [("Say hi", "hi"), ("Say bye", "bye")]
  (tmp_path / "mc.csv").write_text('question,choices,answer\n"Pick, one",red|blue,blue\n')
  name = user_data.register_user_data("user_mc_csv", str(tmp_path / "mc.csv"), family="mc_question",
                                      fields={"question": "question", "options": "choices", "answer": "answer"},
                                      variants=["zs_opt"])
  (inputs, target), = _texts(name, 5)
  assert "Pick, one" in inputs and "red" in inputs and "blue" in inputs and target in ("blue", "(B)", "B", "2")


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
  path = tmp_path / "bad.jsonl"
  path.write_text('{"inputs": "a", "targets": "b"}\n\n{"inputs": "c", "targets": \n')
  with pytest.raises(sources.DataFileError, match=rf"{path}:3: malformed JSON"):
    sources.read_jsonl(str(path))
  user_data.register_user_data("user_bad_json", str(path))  # registration reads nothing ...
  with pytest.raises(sources.DataFileError, match=rf"{path}:3"):
    _texts("user_bad_json", 1)  # ... the error comes when the data is used


def test_missing_field_names_field_and_task(tmp_path):
  path = _write_jsonl(tmp_path / "qa.jsonl", [{"q": "x", "a": "y"}, {"q": "z"}])
  name = user_data.register_user_data("user_missing", path, family="closed_qa",
                                      fields={"question": "q", "answer": "a"}, variants=["zs"])
  assert name == "user_missing:zs"
  with pytest.raises(ValueError, match=rf"task 'user_missing': field 'answer' \(column 'a'\) is missing in {path}:2"):
    _texts(name, 1)
  bad_tsv = tmp_path / "bad.tsv"
  bad_tsv.write_text("inputs\ttargets\na\tb\tc\n")
  with pytest.raises(sources.DataFileError, match=rf"{bad_tsv}:2: expected 2 columns"):
    sources.read_rows(str(bad_tsv))


def test_user_data_joins_a_mixture_at_a_fraction(tmp_path):
  base = _write_jsonl(tmp_path / "base.jsonl", [{"inputs": f"base {i}", "targets": "b"} for i in range(50)])
  mine = _write_jsonl(tmp_path / "mine.jsonl", [{"inputs": f"mine {i}", "targets": "m"} for i in range(5)])
  user_data.register_user_data("user_base", base)
  from flan.data import rates  # pylint: disable=import-outside-toplevel
  rates.register_mixture("user_base_mix", [("user_base", 1.0)])
  name = user_data.register_user_data("user_mine", mine, mixture="user_base_mix", fraction=0.25)
  assert name == "user_base_mix_with_user_mine"
  dataset = seqio.get_mixture_or_task(name).get_dataset(LENGTHS, split="train", seed=3, copy_pretokenized=True)
  counts = collections.Counter(ex["targets_pretokenized"].decode() for ex in dataset.take(2000).as_numpy_iterator())
  assert abs(counts["m"] / 2000 - 0.25) < 0.04, counts
  with pytest.raises(ValueError, match="fraction strictly between 0 and 1"):
    user_data.register_user_data("user_mine2", mine, mixture="user_base_mix", fraction=1.5)
  with pytest.raises(ValueError, match="closest registered names: user_base_mix"):
    user_data.register_user_data("user_mine3", mine, mixture="user_base_mx", fraction=0.5)



def test_registered_from_gin(tmp_path):
  import gin  # pylint: disable=import-outside-toplevel
  path = _write_jsonl(tmp_path / "gin.jsonl", [{"q": "Sky colour?", "a": "blue"}])
  gin.parse_config(f"""
      my_data/flan.data.user_data.register_user_data.name = "user_from_gin"
      my_data/flan.data.user_data.register_user_data.files = {{"train": "{path}"}}
      my_data/flan.data.user_data.register_user_data.family = "closed_qa"
      my_data/flan.data.user_data.register_user_data.fields = {{"question": "q", "answer": "a"}}
      my_data/flan.data.user_data.register_user_data.variants = ["zs"]
  """)
  try:
    with gin.config_scope("my_data"):
      name = user_data.register_user_data()  # what `@my_data/register_user_data()` evaluates in a gin file
  finally:
    gin.clear_config()
  assert name == "user_from_gin:zs"
  (inputs, target), = _texts(name, 1)
  assert "Sky colour?" in inputs and target == "blue"


@pytest.mark.parametrize("row, field, found", [
    ({"inputs": "Is it?", "targets": ["yes", "no"]}, "targets", "a list"),
    ({"inputs": None, "targets": "yes"}, "inputs", "null"),
    ({"inputs": "Is it?", "targets": True}, "targets", "true/false"),
    ({"inputs": {"text": "Is it?"}, "targets": "yes"}, "inputs", "an object"),
])
def test_text_fields_that_are_not_text_name_file_line_and_field(tmp_path, row, field, found):
  path = _write_jsonl(tmp_path / "raw.jsonl", [{"inputs": "fine", "targets": "ok"}, row])
  name = user_data.register_user_data(f"user_not_text_{field}_{found.split()[-1].replace('/', '_')}", path)
  with pytest.raises(InputError, match=rf"{path}:2: field '{field}' \(column '{field}'\) of task .* must be text "
                                       rf".*got {found}"):
    _texts(name, 2)


def test_numbers_are_taken_as_their_decimal_text(tmp_path):
  path = _write_jsonl(tmp_path / "numbers.jsonl", [{"inputs": "2+2?", "targets": 4}, {"inputs": 1.5, "targets": "x"}])
  name = user_data.register_user_data("user_numbers", path)
  assert _texts(name, 2) == [("2+2?", "4"), ("1.5", "x")]


def test_options_must_be_texts(tmp_path):
  path = _write_jsonl(tmp_path / "mc.jsonl", [{"question": "Pick", "options": ["red", None], "answer": "red"}])
  name = user_data.register_user_data("user_bad_options", path, family="mc_question", variants=["zs_opt"])
  with pytest.raises(InputError, match=rf"{path}:1: field 'options' .* option 2, must be text .*got null"):
    _texts(name, 1)
