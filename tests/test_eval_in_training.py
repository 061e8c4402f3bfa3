"""In-training benchmark evaluation on the shared samples with a tiny random T5: a fixed, seeded prompt subset
and scores equal to scoring the same greedy predictions with the flan-eval harness."""
import jax
import pytest

from flan import partitioning
from flan.errors import ConfigError
from flan.errors import InputError
from flan.evaluation import in_training
from flan.evaluation import metrics
from flan.evaluation import runner
from flan.models import decoding
from flan.models.tokenizer import Tokenizer

from model_tiny import random_params, tiny

NUM_PROMPTS = 8


@pytest.fixture(scope="module")
def setting(shared_data):
  config = tiny(vocab_size=32128)
  tokenizer = Tokenizer(shared_data / "t5_spiece" / "spiece.model")
  kwargs = dict(benchmarks="mmlu_direct,bbh_direct", mmlu_dir=str(shared_data / "mmlu_sample"),
                bbh_dir=str(shared_data / "bbh_sample"), num_prompts=NUM_PROMPTS, batch_size=8,
                max_input_length=64, direct_decode_length=4)
  return config, tokenizer, kwargs, random_params(config)


def test_prompt_subset_is_fixed_and_seeded(setting):
  config, tokenizer, kwargs, _ = setting
  first = in_training.BenchmarkEvaluator(config, tokenizer, seed=3, **kwargs)
  again = in_training.BenchmarkEvaluator(config, tokenizer, seed=3, **kwargs)
  other = in_training.BenchmarkEvaluator(config, tokenizer, seed=4, **kwargs)
  ids = {name: [e.id for e in examples] for name, examples in first.examples.items()}
  assert first.benchmark_names == ("mmlu_direct", "bbh_direct")
  assert all(len(v) == NUM_PROMPTS and len(set(v)) == NUM_PROMPTS for v in ids.values())
  assert ids == {name: [e.id for e in examples] for name, examples in again.examples.items()}
  assert ids != {name: [e.id for e in examples] for name, examples in other.examples.items()}
  assert len({e.subset for e in first.examples["bbh_direct"]}) > 1  # drawn across tasks, not the first one
  with pytest.raises(ConfigError, match="num_prompts=0"):
    in_training.BenchmarkEvaluator(config, tokenizer, **{**kwargs, "num_prompts": 0})


def test_scores_equal_the_harness_on_the_same_predictions(setting):
  config, tokenizer, kwargs, params = setting
  evaluator = in_training.BenchmarkEvaluator(config, tokenizer, seed=0, **kwargs)
  scores = evaluator.evaluate(params)
  assert set(scores) == {"bench/mmlu_direct", "bench/bbh_direct", "bench/normalized_average"}
  # Independently: greedy predictions for the same prompts, scored by flan-eval's scorer.
  raw, random = {}, {}
  for name, examples in evaluator.examples.items():
    texts = decoding.predict_texts(config, params, tokenizer, [e.prompt for e in examples], method="greedy",
                                   max_decode_length=4, batch_size=8, max_input_length=64)
    assert texts == [evaluator.last_predictions[name][e.id] for e in examples]
    summary, _ = runner.score_benchmark(name, examples, dict(zip([e.id for e in examples], texts)))
    raw[name], random[name] = summary["score"], summary["random"]
    assert scores[f"bench/{name}"] == summary["score"]
  assert scores["bench/normalized_average"] == pytest.approx(metrics.normalized_average(raw, random))
  # Same prompts and parameters, on a data-parallel mesh: the same scores.
  mesh = partitioning.make_mesh(data=-1, devices=jax.devices()[:8])
  assert evaluator.evaluate(params, mesh=mesh) == scores


def test_best_score_survives_a_restart(tmp_path):
  best = in_training.BestScore(tmp_path)
  assert best.update(10, {"bench/normalized_average": -3.0}) and best.step == 10
  assert best.update(20, {"bench/normalized_average": 5.0})
  assert not best.update(30, {"bench/normalized_average": 5.0})  # a tie keeps the earlier step
  assert not best.update(40, {"bench/normalized_average": 1.0})
  again = in_training.BestScore(tmp_path)
  assert (again.step, again.score) == (20, 5.0)
  assert again.update(50, {"bench/normalized_average": 6.0}) and in_training.BestScore(tmp_path).step == 50
  (tmp_path / in_training.BestScore.FILE).write_text("{broken")
  with pytest.raises(InputError, match="best_benchmark_score.json: not a best-score record"):
    in_training.BestScore(tmp_path)
