"""A training run's metrics.jsonl as series over steps, and the panels flan-report draws from them.

metrics.jsonl holds one record per logged step ({"step", "loss", "learning_rate", "tokens_per_s/real", ...})
and event records at a step (eval scores "eval/<task>/<metric>", benchmark scores "bench/<name>", compile and
checkpoint times). After a resume the redone steps are logged again after a resume marker
{"step": S, "resumed_from_step": S}; the records of the abandoned attempt are dropped.
"""
import math
import pathlib

from flan.errors import InputError

METRICS_FILE = "metrics.jsonl"
# (panel title, predicate on a metric name), drawn in this order when any metric matches.
PANELS = (
    ("loss", lambda k: k == "loss" or (k.startswith("eval/") and k.endswith("/loss"))),
    ("learning rate", lambda k: k == "learning_rate"),
    ("tokens/s", lambda k: k.startswith("tokens_per_s/")),
    ("non-padding fraction", lambda k: k.startswith("nonpadding_fraction/")),
    ("eval scores (training tasks)", lambda k: k.startswith("eval/") and not k.endswith("/loss")),
    ("held-out benchmarks", lambda k: k.startswith("bench/")),
)


def read_history(path):
  """({metric: ([steps], [values])}, [resume steps]) of a metrics.jsonl file (or the MODEL_DIR holding it).

  Records are read with the trainer's own reader (flan.trainer.metrics.read_metrics): the records of steps
  redone after a resume come from their last attempt; a later record's value at the same step wins.
  """
  from flan.trainer import metrics as train_metrics  # pylint: disable=import-outside-toplevel
  path = pathlib.Path(path)
  if path.is_dir():
    path = path / METRICS_FILE
  if not path.is_file():
    raise InputError(f"{path}: no such metrics file (flan-train writes MODEL_DIR/{METRICS_FILE})")
  values, resumes = {}, []
  for record in train_metrics.read_metrics(path, include_markers=True):
    step = record["step"]
    if train_metrics.RESUME_KEY in record:
      resumes.append(step)
      continue
    for key, value in record.items():
      if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        values.setdefault(key, {})[step] = float(value)
  if not values:
    raise InputError(f"{path}: no numeric metrics to draw")
  series = {key: (sorted(by_step), [by_step[s] for s in sorted(by_step)]) for key, by_step in values.items()}
  return series, sorted(set(resumes))


def panels(series):
  """[(title, {metric: (steps, values)})] for the panels that have data, in PANELS order."""
  drawn = []
  for title, wanted in PANELS:
    chosen = {key: series[key] for key in sorted(series) if wanted(key)}
    if chosen:
      drawn.append((title, chosen))
  return drawn
