"""Metrics: TensorBoard event files readable by TensorFlow, FLOPs against XLA's own count, MFU table,
the progress line, and the synthetic batch source's determinism and resumability."""
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.models import t5
from flan.models.config import get_config
from flan.trainer import flops, metrics
from flan.trainer import state as state_lib
from flan.trainer.synthetic import SyntheticBatches
from flan.trainer.tensorboard import EventFileWriter, crc32c


def test_crc32c_known_value():
  assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_event_file_read_back_by_tensorflow(tmp_path):
  tf = pytest.importorskip("tensorflow")
  writer = EventFileWriter(str(tmp_path))
  writer.scalars(7, {"loss": 1.25, "tokens_per_s/real": 12345.0})
  writer.close()
  events = list(tf.compat.v1.train.summary_iterator(writer.path))
  assert events[0].file_version == "brain.Event:2"
  assert events[1].step == 7
  assert {v.tag: v.simple_value for v in events[1].summary.value} == {"loss": 1.25, "tokens_per_s/real": 12345.0}


def test_forward_flops_match_xla_cost_analysis():
  config = get_config("tiny", vocab_size=512, emb_dim=128, mlp_dim=256, num_heads=4, head_dim=32,
                      dtype="float32")
  model = t5.Transformer(config)
  params = state_lib.unbox(model.init(jax.random.key(0), *model.dummy_inputs())["params"])
  batch, inputs, targets = 4, 64, 32
  compiled = jax.jit(lambda p, x, y: model.apply({"params": p}, x, y)).lower(
      params, jnp.ones((batch, inputs), jnp.int32), jnp.ones((batch, targets), jnp.int32)).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  ours = flops.forward_flops(config, batch, inputs, targets)
  assert 0.95 < cost["flops"] / ours < 1.1  # XLA also counts softmax, norms and other elementwise work
  assert flops.train_step_flops(config, batch, inputs, targets) == 3 * ours


def test_peak_flops_table():
  assert flops.peak_flops_per_device("NVIDIA H100 80GB HBM3") == 989e12
  assert flops.peak_flops_per_device("NVIDIA H200") == 989e12
  assert flops.peak_flops_per_device("NVIDIA A100-SXM4-80GB") == 312e12
  assert flops.peak_flops_per_device("TPU v4") == 275e12
  assert flops.peak_flops_per_device("TPU v5 lite") == 197e12
  assert flops.peak_flops_per_device("TPU v5p") == 459e12
  assert flops.peak_flops_per_device("cpu") is None


def test_logger_reads_previous_step_and_reports_real_units(tmp_path):
  stream = io.StringIO()
  config = get_config("tiny")
  logger = metrics.MetricsLogger(str(tmp_path), model_config=config, batch_size=2, input_length=4,
                                 target_length=4, stream=stream, num_devices=1, device_kind="NVIDIA H100")
  batch = {"encoder_input_tokens": np.array([[5, 6, 1, 0], [5, 1, 0, 0]]),
           "decoder_loss_weights": np.array([[1, 1, 0, 0], [1, 0, 0, 0]])}
  counts = metrics.batch_token_counts(batch)
  assert counts == {"encoder_real": 5, "encoder_padded": 8, "decoder_real": 3, "decoder_padded": 8}
  values = lambda loss: {"loss": jnp.float32(loss), "learning_rate": jnp.float32(5e-4)}
  assert logger.submit(1, values(2.0), counts) is None  # nothing read yet: step 1 may still be running
  first = logger.submit(2, values(1.5), counts)
  assert first["step"] == 1 and first["loss"] == 2.0
  second = logger.flush()
  assert second["step"] == 2 and second["step_time_s"] > 0
  assert second["tokens_per_s/real"] == pytest.approx(8 / second["step_time_s"])
  assert second["tokens_per_s/padded"] == pytest.approx(16 / second["step_time_s"])
  assert second["nonpadding_fraction/inputs"] == 5 / 8
  assert second["mfu"] == pytest.approx(flops.train_step_flops(config, 2, 4, 4) / second["step_time_s"] / 989e12)
  assert "step      2 | loss 1.5000 | lr 5.00e-04" in stream.getvalue()
  logger.submit(3, values(float("nan")), counts)
  with pytest.raises(metrics.NonFiniteLossError, match="step 3"):
    logger.flush()
  logger.close()
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == 2


def test_synthetic_batches_are_deterministic_and_resumable():
  make = lambda: SyntheticBatches(batch_size=4, feature_lengths={"inputs": 32, "targets": 32}, vocab_size=100,
                                  seed=3)
  straight = make()
  batches = [next(straight) for _ in range(5)]
  resumed = make()
  for _ in range(2):
    next(resumed)
  state = resumed.get_state()
  fresh = make()
  fresh.set_state(state)
  for expected in batches[2:]:
    got = next(fresh)
    for name in expected:
      np.testing.assert_array_equal(got[name], expected[name])
  b = batches[0]
  # targets are the reversed inputs + 1 within each packed segment; EOS (1) closes each example
  for row in range(4):
    for segment in set(b["encoder_segment_ids"][row]) - {0}:
      inputs = b["encoder_input_tokens"][row][b["encoder_segment_ids"][row] == segment]
      targets = b["decoder_target_tokens"][row][b["decoder_segment_ids"][row] == segment]
      np.testing.assert_array_equal(targets[:-1], inputs[:-1][::-1] + 1)
      assert inputs[-1] == targets[-1] == 1
  with pytest.raises(ValueError, match="seed"):
    SyntheticBatches(batch_size=4, feature_lengths={"inputs": 8, "targets": 8}, seed=4).set_state(state)


def test_a_resume_marker_supersedes_the_redone_steps(tmp_path):
  config = get_config("tiny", vocab_size=64, emb_dim=16, mlp_dim=32, num_heads=4, head_dim=4)
  counts = {"encoder_real": 8, "encoder_padded": 16, "decoder_real": 4, "decoder_padded": 16}

  def run(steps, resume_from=None, loss_offset=0.0):
    logger = metrics.MetricsLogger(str(tmp_path), model_config=config, batch_size=2, input_length=8,
                                   target_length=8, stream=None, num_devices=1, device_kind="cpu")
    if resume_from is not None:
      logger.mark_resume(resume_from)
    for step in steps:
      logger.submit(step, {"loss": jnp.asarray(step + loss_offset), "learning_rate": jnp.asarray(0.1)}, counts)
      if step % 2 == 0:
        logger.flush()
        logger.event(step, {"checkpoint_save_s": 0.5})
    logger.flush()
    logger.close()

  run([1, 2, 3, 4, 5])  # killed after step 5; step 4 was the last checkpoint
  run([5, 6], resume_from=4, loss_offset=100.0)
  path = tmp_path / "metrics.jsonl"
  with open(path, "a", encoding="utf-8") as f:
    f.write('{"step": 7, "loss": ')  # a line cut off by a crash
  raw_steps = [r["step"] for r in map(__import__("json").loads, path.read_text().splitlines()[:-1])]
  assert raw_steps.count(5) == 2  # the file itself keeps both attempts
  records = metrics.read_metrics(path)
  assert [(r["step"], r.get("loss")) for r in records if "loss" in r] == [
      (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 105.0), (6, 106.0)]
  assert not any(metrics.RESUME_KEY in r for r in records)
  markers = [r for r in metrics.read_metrics(path, include_markers=True) if metrics.RESUME_KEY in r]
  assert markers == [{"step": 4, metrics.RESUME_KEY: 4}]
  by_step = metrics.metrics_by_step(path)
  assert by_step[4]["loss"] == 4.0 and by_step[4]["checkpoint_save_s"] == 0.5 and by_step[5]["loss"] == 105.0
  assert sorted(by_step) == [1, 2, 3, 4, 5, 6]
