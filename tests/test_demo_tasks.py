"""The generated demo tasks, the flan_demo mixture and its held-out evaluation tasks."""
import re

import pytest
import seqio

from flan.data import demo
from flan.data import template_families


@pytest.fixture(scope="module", autouse=True)
def _vocabulary(shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  yield
  del os.environ["FLAN_VOCAB_PATH"]


def test_generation_is_deterministic_and_correct():
  for name, (generator, _, _) in demo.DATASETS.items():
    first = demo.generate_rows(generator, name, "train")
    assert first == demo.generate_rows(generator, name, "train")
    assert len(first) == demo.SPLIT_SIZES["train"]
    assert first[:50] != demo.generate_rows(generator, name, "validation")[:50]
  for row in demo.generate_rows(demo.DATASETS["demo_add"][0], "demo_add", "train")[:200]:
    assert int(row["answer"]) == int(row["a"]) + int(row["b"])
  for row in demo.generate_rows(demo.DATASETS["demo_logic"][0], "demo_logic", "train")[:200]:
    expression = row["expression"].replace("true", "True").replace("false", "False")
    assert str(eval(expression)).lower() == row["answer"]  # pylint: disable=eval-used
  for row in demo.generate_rows(demo.DATASETS["demo_sum3"][0], "demo_sum3", "train")[:200]:
    a, b, c = map(int, re.findall(r"\d+", row["question"]))
    assert int(row["answer"]) == a + b + c and row["rationale"].endswith(f"= {a + b + c}.")


def test_flan_demo_mixture_draws_short_examples():
  mixture = seqio.get_mixture_or_task(demo.MIXTURE)
  assert {t.name for t in mixture.tasks} >= {"demo_add:zs", "demo_sum3:cot", "demo_compare:zs_opt"}
  dataset = mixture.get_dataset({"inputs": 64, "targets": 32}, split="train", seed=0, copy_pretokenized=True)
  examples = list(dataset.take(200).as_numpy_iterator())
  assert max(len(ex["inputs"]) for ex in examples) <= 64
  targets = {ex["targets_pretokenized"].decode() for ex in examples}
  assert any("So the answer is" in t or "answer" in t.lower() for t in targets)  # CoT targets present
  assert len({ex["inputs_pretokenized"].decode().split()[0] for ex in examples}) >= 8  # many templates


def test_heldout_tasks_use_unseen_templates():
  assert demo.HELDOUT_TASKS == ("demo_add_heldout:zs", "demo_compare_heldout:zs_opt", "demo_logic_heldout:zs_opt")
  training_inputs = {t.inputs for f in template_families.FAMILIES.values() if f.name.startswith("demo_")
                     and not f.name.endswith("_heldout") for t in f.templates}
  for task_name in demo.HELDOUT_TASKS:
    task = seqio.get_mixture_or_task(task_name)
    assert task_name not in {t.name for t in seqio.get_mixture_or_task(demo.MIXTURE).tasks}
    examples = list(task.get_dataset(None, split="validation", shuffle=False).as_numpy_iterator())
    assert len(examples) == demo.SPLIT_SIZES["validation"]
  for name in ("demo_addition_heldout", "demo_comparison_heldout", "demo_logic_heldout"):
    assert not {t.inputs for t in template_families.FAMILIES[name].templates} & training_inputs
  add_example = next(seqio.get_mixture_or_task("demo_add_heldout:zs").get_dataset(
      None, split="validation", shuffle=False).as_numpy_iterator())
  a, b = map(int, re.findall(r"\d+", add_example["inputs_pretokenized"].decode()))
  assert int(add_example["targets_pretokenized"]) == a + b
