"""Mixing rates: examples-proportional with caps, variant shares, submixture weights (gin-selectable),
nested mixtures, and observed sampling proportions."""
import collections
import json

import gin
import pytest
import seqio

from flan.data import rates
from flan.data import user_data

LENGTHS = {"inputs": 64, "targets": 16}


@pytest.fixture(scope="module", autouse=True)
def _tasks(tmp_path_factory, shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  folder = tmp_path_factory.mktemp("mix")
  for name, count in (("mix_big", 60), ("mix_mid", 30), ("mix_small", 10), ("mix_other", 20)):
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"inputs": f"{name} {i}", "targets": name}) + "\n" for i in range(count)))
    user_data.register_user_data(name, str(path))
  yield
  del os.environ["FLAN_VOCAB_PATH"]


def _observed(mixture, n=3000, seed=0):
  dataset = seqio.get_mixture_or_task(mixture).get_dataset(LENGTHS, split="train", seed=seed, copy_pretokenized=True)
  counts = collections.Counter(ex["targets_pretokenized"].decode() for ex in dataset.take(n).as_numpy_iterator())
  return {k: v / n for k, v in counts.items()}


def test_capped_examples_proportional_rates_and_observed_proportions():
  rates.register_mixture("mix_capped", [(t, rates.capped_rate(cap=30)) for t in ("mix_big", "mix_mid", "mix_small")])
  mixture = seqio.get_mixture_or_task("mix_capped")
  assert [mixture.get_rate(seqio.get_mixture_or_task(t)) for t in ("mix_big", "mix_mid", "mix_small")] == [30, 30, 10]
  observed = _observed("mix_capped")
  for name, expected in (("mix_big", 30 / 70), ("mix_mid", 30 / 70), ("mix_small", 10 / 70)):
    assert observed[name] == pytest.approx(expected, abs=0.03), observed


def test_variant_shares_and_inverted_twins():
  shares = rates.variant_shares(["d:zs_opt", "d:zs_noopt", "d:fs_opt", "d:fs_noopt", "d:inverted"])
  assert shares == {"d:zs_opt": 0.25, "d:zs_noopt": 0.25, "d:fs_opt": 0.25, "d:fs_noopt": 0.25, "d:inverted": 0.3}
  entries = dict(rates.dataset_rates(["mix_big", "mix_mid:inverted"], cap=40))
  assert entries["mix_big"](seqio.get_mixture_or_task("mix_big")) == 40
  assert entries["mix_mid:inverted"].share == pytest.approx(0.3) and entries["mix_mid:inverted"].cap == 40


def test_nested_mixture_weights():
  rates.register_mixture("mix_sub_a", [(t, rates.capped_rate(None)) for t in ("mix_big", "mix_mid")])
  rates.register_mixture("mix_sub_b", [("mix_small", rates.capped_rate(None))])
  rates.register_mixture("mix_nested", [("mix_sub_a", 3.0), ("mix_sub_b", 1.0)])
  observed = _observed("mix_nested", seed=1)
  assert observed["mix_small"] == pytest.approx(0.25, abs=0.03)
  assert observed["mix_big"] == pytest.approx(0.75 * 60 / 90, abs=0.03)


def test_submixture_proportions_are_selected_from_gin():
  submixtures = {"muffin": [("mix_big", rates.capped_rate(None))], "t0sf": [("mix_mid", rates.capped_rate(None))],
                 "niv2": [("mix_small", rates.capped_rate(None))], "cot": [("mix_other", rates.capped_rate(None))]}
  rates.register_mixture("mix_flan_like", rates.weighted_rates(submixtures, rates.flan2022_proportions))
  mixture = seqio.get_mixture_or_task("mix_flan_like")

  def proportions():
    got = {t: mixture.get_rate(seqio.get_mixture_or_task(t)) for t in ("mix_big", "mix_mid", "mix_small", "mix_other")}
    return [round(v, 6) for v in got.values()]

  assert proportions() == [46.0, 27.9, 24.2, 1.8]  # default: B
  with gin.unlock_config():
    gin.parse_config('flan.data.rates.flan2022_proportions.name = "A"')
  try:
    assert proportions() == [52.0, 15.0, 30.0, 3.0]
  finally:
    gin.clear_config()
  with pytest.raises(ValueError, match="closest registered names: A"):
    rates.flan2022_proportions("AA")


def test_flan2022_collection_registers_without_data():
  from flan.mixtures import flan2022  # pylint: disable=import-outside-toplevel
  names = set(seqio.MixtureRegistry.names())
  assert {"flan2022", "flan2022_a", "flan2022_b", "flan2022_muffin", "flan2022_t0sf", "flan2022_niv2",
          "flan2022_cot"} <= names
  muffin = seqio.get_mixture_or_task("flan2022_muffin")
  assert len(muffin.tasks) >= 200 and len({t.name.split(":")[0] for t in muffin.tasks}) >= 60
  assert "niv2:zs" in {t.name for t in seqio.get_mixture_or_task("flan2022_niv2").tasks}
  assert flan2022.MIXTURES == ["flan2022_a", "flan2022_b", "flan2022", "flan2022_c"]
  with pytest.raises(RuntimeError, match="cannot count the 'train' examples of task"):
    rates.num_train_examples(seqio.get_mixture_or_task("wmt16_translate_ro_en:zs"))  # not downloaded here


def test_niv2_cap_per_task():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from flan.mixtures import niv2  # pylint: disable=import-outside-toplevel
  names = [f"task{n:03d}_x" for n in (1, 1, 1, 2, 1, 2, 2, 2, 3)] + ["odd_name"] * 4
  dataset = tf.data.Dataset.from_tensor_slices({"task_name": names})
  kept = [ex["task_name"].decode() for ex in niv2.cap_per_task(dataset, cap=2).as_numpy_iterator()]
  assert kept == ["task001_x", "task001_x", "task002_x", "task002_x", "task003_x", "odd_name", "odd_name"]
