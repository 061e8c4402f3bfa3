"""Training metrics: the progress line, a JSONL log and TensorBoard scalars in the model directory.

The host never waits on the device for metrics: the loop hands over step N's (still computing) device
metrics and reads them only after dispatching step N+1 (`MetricsLogger.submit` logs the previous step).

metrics.jsonl is appended to by every run in the model directory. A resumed run first writes a resume
marker, {"step": S, "resumed_from_step": S}; the records of steps after S written before the marker belong to
steps that were redone, and `read_metrics` drops them, so each step's records come from its last attempt.
"""
import json
import math
import os
import sys
import time

import jax
import numpy as np

from flan.trainer import flops as flops_lib
from flan.trainer.tensorboard import EventFileWriter


def batch_token_counts(batch):
  """Host-side counts from the numpy batch: real and padded tokens per side. A decoder-only batch (no
  encoder features) counts its one stream per row ("stream") and the target tokens the loss is on."""
  targets = batch["decoder_loss_weights"]
  counts = {"decoder_real": int(np.count_nonzero(targets)), "decoder_padded": int(targets.size)}
  if "encoder_input_tokens" in batch:
    encoder = batch["encoder_input_tokens"]
    counts.update(encoder_real=int(np.count_nonzero(encoder)), encoder_padded=int(encoder.size))
  else:
    occupied = batch.get("decoder_segment_ids", batch["decoder_target_tokens"])
    counts.update(stream_real=int(np.count_nonzero(occupied)), stream_padded=int(occupied.size))
  return counts


RESUME_KEY = "resumed_from_step"


def read_metrics(path, include_markers=False):
  """The records of a metrics.jsonl in file order, without those superseded by a later resume: a resume
  marker at step S drops the records of steps > S written before it. Lines that are not JSON objects (a
  line cut off by a crash) are skipped."""
  records = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        continue
      if RESUME_KEY in record:
        records = [r for r in records if r["step"] <= record[RESUME_KEY]]
        if not include_markers:
          continue
      records.append(record)
  return records


def metrics_by_step(path):
  """{step: every value recorded for that step (progress, checkpoint, eval records merged; a later record's
  value wins)} from a metrics.jsonl, redone steps taken from their last attempt."""
  merged = {}
  for record in read_metrics(path):
    merged.setdefault(record["step"], {}).update(record)
  return merged


class NonFiniteLossError(RuntimeError):
  pass


class MetricsLogger:
  """Writes one record per logged step; `submit` returns the previous step's record once it is read."""

  def __init__(self, model_dir, *, model_config, batch_size, input_length, target_length, log_every=1,
               stream=sys.stdout, write_files=True, num_devices=None, device_kind=None):
    self.log_every = max(1, log_every)
    self.stream = stream
    num_devices = num_devices or jax.device_count()
    device_kind = device_kind or jax.devices()[0].device_kind
    peak = flops_lib.peak_flops_per_device(device_kind)
    self.peak_flops = None if peak is None else peak * num_devices
    self.step_flops = flops_lib.train_step_flops(model_config, batch_size, input_length, target_length)
    self.process_count = jax.process_count()
    self._pending = None
    self._last_ready = None
    self.history = []
    self.jsonl = self.tensorboard = None
    if write_files and jax.process_index() == 0:
      os.makedirs(model_dir, exist_ok=True)
      self.jsonl = open(os.path.join(model_dir, "metrics.jsonl"), "a", encoding="utf-8")  # pylint: disable=consider-using-with
      self.tensorboard = EventFileWriter(os.path.join(model_dir, "tensorboard", "train"))

  def submit(self, step, device_metrics, token_counts, host_values=None):
    """Queues step `step` (1-based count of updates after it) and logs the step queued before it.
    host_values (e.g. {"data_wait_s": ...}, the time the step waited for its batch) join its record."""
    previous, self._pending = self._pending, (step, device_metrics, token_counts, host_values or {})
    if previous is not None:
      return self._read(*previous)
    return None

  def flush(self):
    """Reads and logs the queued step (blocks until it is computed)."""
    previous, self._pending = self._pending, None
    return None if previous is None else self._read(*previous)

  def reset_clock(self):
    """Call after pauses (checkpoint, eval) so the next step time does not include them."""
    self._last_ready = None

  def _read(self, step, device_metrics, token_counts, host_values=None):
    values = {k: float(v) for k, v in jax.device_get(device_metrics).items()}
    values.update(host_values or {})
    now = time.perf_counter()
    step_time = None if self._last_ready is None else now - self._last_ready
    self._last_ready = now
    if not math.isfinite(values["loss"]) or not math.isfinite(values.get("grad_norm", 0.0)):
      raise NonFiniteLossError(
          f"loss became non-finite at step {step} (loss={values['loss']}, grad_norm={values.get('grad_norm')}); "
          "stopping without saving; the last checkpoint written before this step is kept")
    record = {"step": step, **values}
    counts = {k: v * self.process_count for k, v in token_counts.items()}
    if "stream_real" in counts:  # decoder-only: one stream per row
      real, padded = counts["stream_real"], counts["stream_padded"]
      record["nonpadding_fraction/stream"] = real / padded
    else:
      real = counts["encoder_real"] + counts["decoder_real"]
      padded = counts["encoder_padded"] + counts["decoder_padded"]
      record["nonpadding_fraction/inputs"] = counts["encoder_real"] / counts["encoder_padded"]
    record["nonpadding_fraction/targets"] = counts["decoder_real"] / counts["decoder_padded"]
    if step_time:
      record["step_time_s"] = step_time
      record["tokens_per_s/real"] = real / step_time
      record["tokens_per_s/padded"] = padded / step_time
      if self.peak_flops:
        record["mfu"] = self.step_flops / step_time / self.peak_flops
    self.history.append(record)
    if step % self.log_every == 0:
      self._write(record)
    return record

  def _write(self, record):
    if self.stream is not None:
      print(progress_line(record), file=self.stream, flush=True)
    if self.jsonl is not None:
      self.jsonl.write(json.dumps(record) + "\n")
      self.jsonl.flush()
      self.tensorboard.scalars(record["step"], {k: v for k, v in record.items() if k != "step"})
      self.tensorboard.flush()

  def mark_resume(self, step):
    """Records that this run continues from the checkpoint of step `step` (see read_metrics); call it once,
    before the first step of a resumed run."""
    if self.jsonl is not None:
      self.jsonl.write(json.dumps({"step": step, RESUME_KEY: step}) + "\n")
      self.jsonl.flush()

  def event(self, step, values, message=None):
    """Logs non-step values (compile time, checkpoint time, eval results) to the same sinks."""
    if message and self.stream is not None:
      print(message, file=self.stream, flush=True)
    if self.jsonl is not None:
      self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
      self.jsonl.flush()
      self.tensorboard.scalars(step, values)
      self.tensorboard.flush()

  def close(self):
    if self.jsonl is not None:
      self.jsonl.close()
      self.tensorboard.close()


def progress_line(record):
  parts = [f"step {record['step']:>6d}", f"loss {record['loss']:.4f}", f"lr {record['learning_rate']:.2e}"]
  if "step_time_s" in record:
    parts += [f"tok/s real {record['tokens_per_s/real']:,.0f}", f"padded {record['tokens_per_s/padded']:,.0f}"]
  if "nonpadding_fraction/stream" in record:  # decoder-only
    parts.append(f"nonpad stream {record['nonpadding_fraction/stream']:.2f}")
  else:
    parts.append(f"nonpad in/tgt {record['nonpadding_fraction/inputs']:.2f}/"
                 f"{record['nonpadding_fraction/targets']:.2f}")
  if "step_time_s" in record:
    parts.append(f"step {record['step_time_s'] * 1000:.0f} ms")
  if "data_wait_s" in record:
    parts.append(f"data wait {record['data_wait_s'] * 1000:.0f} ms")
  if "mfu" in record:
    parts.append(f"MFU {record['mfu'] * 100:.1f}%")
  return " | ".join(parts)
