"""flan-report: draw a training run from its MODEL_DIR/metrics.jsonl.

  flan-report MODEL_DIR [--output PREFIX]

Writes PREFIX.png and PREFIX.html (the figure embedded; default PREFIX = MODEL_DIR/run_report): loss
(training and eval), learning rate, tokens/s, non-padding fraction, the eval scores on training tasks and the
held-out benchmark scores over steps. Steps redone after a resume count once (the last values logged), and
resumes are marked with dotted lines. Needs no server; TensorBoard reads MODEL_DIR/tensorboard as before.
"""
import argparse
import base64
import html
import pathlib
import sys

from flan import errors
from flan.evaluation import plots
from flan.evaluation import run_history


def write_run_report(model_dir, output_prefix=None):
  """Draws the run; returns the paths of the PNG and HTML files written."""
  model_dir = pathlib.Path(model_dir)
  series, resumes = run_history.read_history(model_dir)
  drawn = run_history.panels(series)
  if not drawn:
    raise errors.InputError(f"{model_dir / run_history.METRICS_FILE}: none of the metrics flan-report draws "
                            f"(found: {sorted(series)[:8]})")
  last_step = max(max(steps) for steps, _ in series.values())
  png = plots.png_bytes(plots.run_curves(drawn, f"{model_dir.name}: {last_step} steps", marks=resumes))
  prefix = pathlib.Path(output_prefix) if output_prefix else model_dir / "run_report"
  prefix.parent.mkdir(parents=True, exist_ok=True)
  png_path, html_path = prefix.with_name(prefix.name + ".png"), prefix.with_name(prefix.name + ".html")
  png_path.write_bytes(png)
  latest = "".join(f"<tr><td>{html.escape(key)}</td><td>{steps[-1]}</td><td>{values[-1]:.6g}</td></tr>"
                   for _, chosen in drawn for key, (steps, values) in chosen.items())
  html_path.write_text(
      f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(str(model_dir))}</title></head>"
      f"<body><h1>{html.escape(str(model_dir))}</h1>"
      f"<img alt='training curves' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
      f"<h2>Last values</h2><table border='1'><tr><th>metric</th><th>step</th><th>value</th></tr>{latest}"
      f"</table><p>Resumed at steps: {', '.join(map(str, resumes)) or 'none'}.</p></body></html>\n",
      encoding="utf-8")
  return [png_path, html_path]


def _run(argv):
  parser = argparse.ArgumentParser(prog="flan-report", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("model_dir", help="the training run's directory (holding metrics.jsonl)")
  parser.add_argument("--output", default=None, help="path prefix of the .png and .html to write")
  args = parser.parse_args(argv)
  for path in write_run_report(args.model_dir, args.output):
    print(f"wrote {path}", file=sys.stderr)
  return 0


def main(argv=None):
  return errors.run_command("flan-report", _run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
  sys.exit(main())
