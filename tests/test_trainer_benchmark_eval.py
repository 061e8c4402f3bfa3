"""In-training benchmark evaluation: a short CPU run scores fixed held-out MMLU prompts at each eval, logs the
scores, and keeps the best-scoring checkpoint in MODEL_DIR/best beside the latest ones."""
import json

from flan.trainer import loop
from tests.trainer_tiny import tiny_config


def test_run_logs_benchmark_scores_and_keeps_the_best_checkpoint(tmp_path, shared_data, monkeypatch):
  monkeypatch.setenv("FLAN_VOCAB_PATH", str(shared_data / "t5_spiece" / "spiece.model"))
  model_dir = tmp_path / "run"
  result = loop.train(
      model_dir=str(model_dir), model_config=tiny_config(vocab_size=32128), mixture="flan_demo", num_steps=20,
      batch_size=8, feature_lengths={"inputs": 64, "targets": 16}, mesh_data=-1, checkpoint_every=10,
      keep_checkpoints=1, async_checkpoints=False, eval_every=10, eval_benchmarks="mmlu_direct",
      eval_benchmark_dir={"mmlu_dir": str(shared_data / "mmlu_sample")}, eval_benchmark_prompts=4, stream=None)
  assert result["step"] == 20
  records = [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]
  scored = [r for r in records if "bench/mmlu_direct" in r]
  assert [r["step"] for r in scored] == [10, 20]
  assert all(0.0 <= r["bench/mmlu_direct"] <= 100.0 and "bench/normalized_average" in r for r in scored)
  best = json.loads((model_dir / "best_benchmark_score.json").read_text())
  assert best["step"] in (10, 20)
  assert [p.name for p in (model_dir / "best" / "checkpoints").iterdir() if p.name.isdigit()] == [str(best["step"])]
  assert (model_dir / "best" / "spiece.model").is_file()
  assert sorted(p.name for p in (model_dir / "checkpoints").iterdir() if p.name.isdigit()) == ["20"]
