"""The benchmarks registered as seqio tasks (mixtures/benchmarks.py) hold flan-eval's prompts and metrics."""
import gin
import pytest

seqio = pytest.importorskip("seqio")


@pytest.fixture()
def sample_bindings(shared_data, monkeypatch):
  monkeypatch.setenv("FLAN_VOCAB_PATH", str(shared_data / "t5_spiece" / "spiece.model"))
  from flan.mixtures import benchmarks  # pylint: disable=import-outside-toplevel
  with gin.unlock_config():
    gin.bind_parameter("benchmark_data.mgsm_dir", str(shared_data / "mgsm_sample"))
    gin.bind_parameter("benchmark_data.bbh_dir", str(shared_data / "bbh_sample"))
    gin.bind_parameter("benchmark_data.max_per_subset", 2)
  yield benchmarks
  gin.clear_config()


def test_tasks_and_mixtures_registered(sample_bindings):
  assert set(sample_bindings.MIXTURES) <= set(seqio.MixtureRegistry.names())
  mixture = seqio.MixtureRegistry.get("flan_eval_paper")
  assert sorted(t.name for t in mixture.tasks) == sorted(
      "flan_eval_" + n for n in ("mmlu_direct", "mmlu_cot", "bbh_direct", "bbh_cot", "tydiqa", "mgsm"))


def test_task_yields_the_eval_prompts_and_scores_them(sample_bindings):
  from flan.evaluation import benchmarks, runner  # pylint: disable=import-outside-toplevel
  task = seqio.TaskRegistry.get("flan_eval_mgsm")
  rows = list(task.get_dataset(sequence_length=None, split="validation", shuffle=False).as_numpy_iterator())
  expected = runner.collect_examples(["mgsm"], benchmarks.DataDirs(mgsm_dir=gin.query_parameter(
      "benchmark_data.mgsm_dir")), max_per_subset=2)["mgsm"][0]
  assert [r["id"].decode() for r in rows] == [e.id for e in expected] and len(rows) == 6
  assert rows[0]["inputs_pretokenized"].decode() == expected[0].prompt
  assert rows[0]["inputs"][-1] == 1 and rows[0]["targets"][-1] == 1
  targets = [task.postprocess_fn(r["targets_pretokenized"], example=r, is_target=True) for r in rows]
  metric = task.metric_fns[0]
  assert metric(targets, [f"The answer is {e.gold}." for e in expected])["score"] == 100.0
  assert metric(targets, ["The answer is -5." for _ in expected])["score"] == 0.0
  with pytest.raises(ValueError, match="has only the split 'validation'"):
    task.get_dataset(sequence_length=None, split="train")
