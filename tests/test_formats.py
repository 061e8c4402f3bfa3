"""Prompt formats as the Flan Collection mixes them: variant shares, exemplars from the whole split,
few-shot prompts only with exemplars, CoT only with rationale, EOS kept after truncation."""
import collections
import re

import numpy as np
import pytest
import seqio

from flan.data import examples as examples_lib
from flan.data import rates
from flan.data import registration
from flan.data import sources
from flan.data import template_families
from flan.data import variants
from flan.data.registration import DatasetSpec

LENGTHS = {"inputs": 512, "targets": 32}


@pytest.fixture(scope="module", autouse=True)
def t5_vocab(shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  yield
  del os.environ["FLAN_VOCAB_PATH"]


def _mc_source(name, count):
  rows = [{"question": f"Q{name}{i:04d} which one?", "options": [f"alpha{i}", f"beta{i}", f"gamma{i}"],
           "answer": f"beta{i}"} for i in range(count)]
  return sources.InMemorySource(name, lambda split: rows, ("train",))


def _variant_of(example):
  inputs, target = example["inputs_pretokenized"].decode(), example["targets_pretokenized"].decode()
  dataset = re.search(r"Q([AB])\d{4}", inputs + target).group(1)
  if re.fullmatch(r"Q[AB]\d{4} which one\?", target):
    return dataset, "inverted"
  shots = "fs" if len(re.findall(r"Q[AB]\d{4}", inputs)) > 1 else "zs"
  return dataset, f"{shots}_{'opt' if 'gamma' in inputs else 'noopt'}"


def test_observed_variant_shares_match_the_configured_shares():
  entries = []
  for name, count in (("A", 3000), ("B", 600)):
    tasks = registration.register_dataset(DatasetSpec(name=f"test_shares_{name}", source=_mc_source(name, count),
                                                      family="mc_question"), few_shot_budget=400)
    assert sorted(t.split(":")[1] for t in tasks) == ["fs_noopt", "fs_opt", "inverted", "zs_noopt", "zs_opt"]
    entries += rates.dataset_rates(tasks, cap=1000)
  rates.register_mixture("test_shares", entries)
  mixture = seqio.get_mixture_or_task("test_shares")
  configured = {(t.name.split(":")[0][-1], t.name.split(":")[1]): mixture.get_rate(t) for t in mixture.tasks}
  total = sum(configured.values())
  assert configured[("A", "zs_opt")] == pytest.approx(1000 / 4) and configured[("B", "inverted")] == pytest.approx(180)
  n = 2000
  dataset = mixture.get_dataset(LENGTHS, split="train", seed=5, copy_pretokenized=True)
  observed = collections.Counter(_variant_of(ex) for ex in dataset.take(n).as_numpy_iterator())
  assert set(observed) <= set(configured)
  for key, rate in configured.items():
    assert observed[key] / n == pytest.approx(rate / total, abs=0.03), (key, observed)


def test_few_shot_exemplars_come_from_the_whole_split():
  rows = [{"question": f"question {i:04d}", "answer": f"answer {i:04d}"} for i in range(2000)]
  source = sources.InMemorySource("test_whole_split", lambda split: rows, ("train",))
  spec = DatasetSpec(name="test_whole_split", source=source, family="closed_qa", variants=["fs"])
  pool = registration.load_exemplar_pool(spec)
  positions = [int(example.fields["question"].split()[1]) for example in pool]
  assert len(pool) == registration.EXEMPLAR_POOL_SIZE == len(set(positions))
  assert max(positions) >= 1500
  assert sum(p >= 256 for p in positions) > 0.8 * len(positions)  # ~87% of a uniform sample lies past 256
  registration.register_dataset(spec, few_shot_budget=200)
  task = seqio.get_mixture_or_task("test_whole_split:fs")
  shown = set()
  for example in task.get_dataset(LENGTHS, split="train", shuffle=False).take(50).as_numpy_iterator():
    target = example["targets_pretokenized"].decode()
    shown |= {int(n) for n in re.findall(r"answer (\d{4})", example["inputs_pretokenized"].decode())
              if f"answer {n}" != target}
  assert shown and min(shown) >= 0 and any(p >= 256 for p in shown)


def test_cot_datasets_register_only_rationale_variants_by_default():
  family = template_families.get_family("cot")
  assert [v.suffix for v in variants.default_variants(family)] == ["cot", "cot_fs", "inverted"]
  assert [v.suffix for v in variants.default_variants(template_families.get_family("nli"))] == [
      v.suffix for v in variants.variants_for(template_families.get_family("nli"))]


def test_truncation_keeps_eos_like_seqio():
  eos = 1
  raw = [(np.array([5, 6, 7, 8, 9, eos]), np.array([3, 4, eos])), (np.array([5, 6, eos]), np.array([3, 4, 2]))]
  kept, counts = examples_lib.fit_to_lengths(raw, {"inputs": 4, "targets": 2}, "truncate", eos_id=eos)
  assert [x.tolist() for x, _ in kept] == [[5, 6, 7, eos], [5, 6, eos]]
  assert [y.tolist() for _, y in kept] == [[3, eos], [3, 4]]  # a target that did not end with EOS is cut plainly
  assert counts == {"inputs_truncated": 1, "inputs_tokens_cut": 2, "targets_truncated": 2, "targets_tokens_cut": 2}
  plain, _ = examples_lib.fit_to_lengths(raw, {"inputs": 4, "targets": 2}, "truncate", eos_id=None)
  assert plain[0][0].tolist() == [5, 6, 7, 8]


def test_truncated_task_examples_end_with_eos():
  rows = [{"inputs": " ".join(f"word{i}" for i in range(60)), "targets": "a long target " * 20}]
  source = sources.InMemorySource("test_truncate_eos", lambda split: rows, ("train",))
  task = registration.register_raw_task("test_truncate_eos", source)
  provider = seqio.get_mixture_or_task(task)
  eos = provider.output_features["inputs"].vocabulary.eos_id
  lengths = {"inputs": 16, "targets": 8}
  reader = examples_lib.ExampleReader(examples_lib.token_dataset(
      provider, split="train", feature_lengths=lengths, seed=0, shuffle=False, repeat=False, shard_index=0,
      num_shards=1))
  raw = reader.read(1)
  assert len(raw[0][0]) > 16 and len(raw[0][1]) > 8
  (inputs, targets), = examples_lib.fit_to_lengths(raw, lengths, "truncate", eos_id=eos)[0]
  assert len(inputs) == 16 and inputs[-1] == eos and len(targets) == 8 and targets[-1] == eos
  assert inputs[:15].tolist() == raw[0][0][:15].tolist()
