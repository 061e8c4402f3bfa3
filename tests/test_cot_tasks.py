"""The Flan CoT tasks on the real TSV files in ../shared/data/flan_cot (7 of the 9 datasets)."""
import pytest
import seqio

DATASETS_PRESENT = ("aqua", "creak", "ecqa", "gsm8k", "qasc", "sensemaking", "strategyqa")


@pytest.fixture(scope="module")
def cot(shared_data):
  import os  # pylint: disable=import-outside-toplevel
  os.environ["FLAN_COT_DIR"] = str(shared_data / "flan_cot")
  os.environ["FLAN_VOCAB_PATH"] = str(shared_data / "t5_spiece" / "spiece.model")
  from flan.mixtures import cot as cot_module  # pylint: disable=import-outside-toplevel
  yield cot_module
  del os.environ["FLAN_COT_DIR"], os.environ["FLAN_VOCAB_PATH"]


def _first(task, n=1, shuffle=False):
  dataset = seqio.get_mixture_or_task(task).get_dataset(None, split="train", shuffle=shuffle, seed=0)
  return [{k: v.decode() if isinstance(v, bytes) else v for k, v in ex.items()}
          for ex in dataset.take(n).as_numpy_iterator()]


def test_rows_are_read_with_line_breaks(cot):
  rows = cot.read_cot_rows("creak")
  assert len(rows) == 6915
  assert "\n" in rows[0]["question"] and "\\n" not in rows[0]["question"]
  assert rows[0]["answer"] == "no"


def test_every_present_dataset_in_every_variant(cot):
  for name in DATASETS_PRESENT:
    row = cot.read_cot_rows(name)[0]
    cot_ex, = _first(f"cot_{name}:cot")
    assert row["question"] in cot_ex["inputs_pretokenized"]
    assert row["rationale"] in cot_ex["targets_pretokenized"] and row["answer"] in cot_ex["targets_pretokenized"]
    assert cot_ex["targets"][-1] == 1
  for name in ("gsm8k", "creak"):
    row = cot.read_cot_rows(name)[0]
    assert f"cot_{name}:zs" not in seqio.TaskRegistry.names()  # no answer-only twin: CoT always has its rationale
    inverted, = _first(f"cot_{name}:inverted")
    assert inverted["targets_pretokenized"] == row["question"]
    fs_ex, = _first(f"cot_{name}:cot_fs")
    assert fs_ex["inputs_pretokenized"].count(row["question"]) == 1
    assert len(fs_ex["inputs"]) <= 1920 + 1  # few-shot budget (+ EOS)
    assert fs_ex["targets_pretokenized"].count(row["rationale"]) == 1


def test_missing_files_fail_only_when_used(cot, tmp_path, monkeypatch):
  assert "cot_esnli:cot" in seqio.TaskRegistry.names()  # registered without its file
  with pytest.raises(FileNotFoundError, match="CoT dataset 'esnli': file .*esnli_train.tsv does not exist"):
    _first("cot_esnli:cot")
  monkeypatch.delenv("FLAN_COT_DIR")
  with pytest.raises(ValueError, match="FLAN_COT_DIR"):
    cot.tsv_path("gsm8k")


def test_cot_mixture_packs(cot):
  mixture = seqio.get_mixture_or_task("flan2022_cot_7")
  assert len(mixture.tasks) == 21  # cot, cot_fs and inverted of 7 datasets
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rates["cot_gsm8k:cot"] == pytest.approx(7473 / 2) and rates["cot_gsm8k:inverted"] == pytest.approx(7473 * 0.3)
  from flan.data import rates as rates_lib  # pylint: disable=import-outside-toplevel
  rates_lib.register_mixture("test_cot_small", [(t, r) for t, r in mixture.rate_per_task_name.items()
                                                if t.startswith(("cot_gsm8k", "cot_creak")) and "fs" not in t])
  dataset = seqio.get_dataset("test_cot_small", task_feature_lengths={"inputs": 1024, "targets": 256},
                              dataset_split="train", shuffle=True, seed=0, num_epochs=None,
                              feature_converter=seqio.EncDecFeatureConverter(pack=True))
  batch = next(dataset.batch(2).as_numpy_iterator())
  assert batch["encoder_input_tokens"].shape == (2, 1024) and batch["decoder_segment_ids"].max() >= 1
