"""flan-report: a run's metrics.jsonl (the trainer's records, a resume that redoes steps) drawn as PNG + HTML."""
import base64
import io
import json
import re

from PIL import Image

from flan.evaluation import report_cli
from flan.evaluation import run_history


def _step_record(step, loss):
  # The keys flan.trainer.metrics.MetricsLogger writes for a logged step.
  return {"step": step, "loss": loss, "z_loss": 0.01, "grad_norm": 1.5, "learning_rate": 5e-4,
          "nonpadding_fraction/inputs": 0.8, "nonpadding_fraction/targets": 0.6, "step_time_s": 0.2,
          "tokens_per_s/real": 1000.0 + step, "tokens_per_s/padded": 1400.0 + step}


def _write_run(model_dir):
  records = [{"step": 0, "compile_s": 3.0}]
  records += [_step_record(step, 10.0 - step) for step in range(1, 7)]
  records.append({"step": 4, "eval/demo/loss": 6.5, "eval/demo/token_accuracy": 0.25,
                  "bench/mmlu_direct": 24.0, "bench/normalized_average": -1.0})
  records.append({"step": 4, "checkpoint_save_s": 0.5, "checkpoint_wait_previous_s": 0.0})
  # Preempted after step 6; resumed from the step-4 checkpoint: steps 5 and 6 are redone with other values.
  records.append({"step": 4, "resumed_from_step": 4})
  records += [_step_record(step, 20.0 + step) for step in range(5, 9)]
  records.append({"step": 8, "eval/demo/loss": 5.5, "eval/demo/token_accuracy": 0.5,
                  "bench/mmlu_direct": 30.0, "bench/normalized_average": 4.0})
  model_dir.mkdir()
  (model_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_history_keeps_the_last_attempt_of_each_step(tmp_path):
  _write_run(tmp_path / "run")
  series, resumes = run_history.read_history(tmp_path / "run")
  assert resumes == [4]
  assert series["loss"] == ([1, 2, 3, 4, 5, 6, 7, 8], [9.0, 8.0, 7.0, 6.0, 25.0, 26.0, 27.0, 28.0])
  assert series["bench/normalized_average"] == ([4, 8], [-1.0, 4.0])
  titles = [title for title, _ in run_history.panels(series)]
  assert titles == ["loss", "learning rate", "tokens/s", "non-padding fraction", "eval scores (training tasks)",
                    "held-out benchmarks"]
  loss_panel = dict(run_history.panels(series))["loss"]
  assert set(loss_panel) == {"loss", "eval/demo/loss"}


def test_flan_report_writes_png_and_html(tmp_path, capsys):
  _write_run(tmp_path / "run")
  assert report_cli.main([str(tmp_path / "run")]) == 0
  png = (tmp_path / "run" / "run_report.png").read_bytes()
  image = Image.open(io.BytesIO(png))
  assert image.size[0] > 600 and image.size[1] > 600  # 6 panels in 3 rows
  page = (tmp_path / "run" / "run_report.html").read_text()
  embedded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1)
  assert base64.b64decode(embedded) == png
  assert "<td>bench/mmlu_direct</td><td>8</td><td>30</td>" in page and "Resumed at steps: 4." in page

  capsys.readouterr()
  assert report_cli.main([str(tmp_path / "missing")]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("flan-report: error:") and "missing: no such metrics file" in err[0]
