"""The train loop: mesh and state setup, restore, the step loop with metrics, checkpoints, eval,
SIGTERM (save and exit cleanly) and non-finite loss (stop with an error, keep the last good checkpoint)."""
import logging
import os
import shutil
import signal
import sys
import time

import flax.linen as nn
import gin
import jax
import numpy as np

from flan import partitioning
from flan.models import t5
from flan.models.config import T5Config
from flan.trainer import batches as batches_lib
from flan.trainer import checkpoints as checkpoints_lib
from flan.trainer import config_checks
from flan.trainer import data_resume
from flan.trainer import metrics as metrics_lib
from flan.trainer import optimizer as optimizer_lib
from flan.trainer import schedules
from flan.trainer import state as state_lib
from flan.trainer import step as step_lib

log = logging.getLogger(__name__)


class _Preemption:
  """Records SIGTERM so the loop can checkpoint at the next step boundary."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread: no handler, preemption then kills the run
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def agreed(self, step, every=10):
    """Whether to stop now. With several processes every one must stop at the same step (the save is
    collective), so they compare flags every `every` steps; that briefly waits for the device."""
    if jax.process_count() == 1:
      return self.requested
    if step % every:
      return False
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    return bool(multihost_utils.process_allgather(np.array([self.requested])).any())

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _check_pretrained_config(pretrained, config, path):
  architecture = ("emb_dim", "num_heads", "head_dim", "mlp_dim", "num_encoder_layers", "num_decoder_layers",
                  "vocab_size", "feed_forward", "logits_via_embedding", "relative_attention_num_buckets")
  different = {name: (getattr(pretrained, name), getattr(config, name)) for name in architecture
               if getattr(pretrained, name) != getattr(config, name)}
  if different:
    raise config_checks.ConfigError(
        f"checkpoint {path} does not match the configured model: "
        + ", ".join(f"{k} checkpoint={a} config={b}" for k, (a, b) in different.items()))


def _load_initial_params(path, config):
  from flan.models import pretrained  # pylint: disable=import-outside-toplevel
  pretrained_config, params = pretrained.load_pretrained(path)
  _check_pretrained_config(pretrained_config, config, path)
  if config.scan_layers:
    from flan.models import layout  # pylint: disable=import-outside-toplevel
    params = layout.scan_params(params, config)
  return params


def _host_batch_fn(iterator, expected_rows, feature_lengths):
  def next_batch():
    batch = next(iterator)
    for name, value in batch.items():
      length = feature_lengths["inputs" if name.startswith("encoder") else "targets"]
      if value.shape != (expected_rows, length):
        raise ValueError(f"batch feature {name} has shape {value.shape}, expected ({expected_rows}, {length})")
    return batch
  return next_batch


def _close(iterator):
  if hasattr(iterator, "close"):  # flan.data's BatchIterator stops its input pipeline
    iterator.close()


def _resume(checkpointer, abstract_state, make_iterator, *, data_seed, allow_data_restart, say):
  """(the latest checkpoint's state or None when there is none, the data iterator positioned to continue
  it). The checkpoint may come from another number of processes (see flan.trainer.data_resume)."""
  iterator = make_iterator(data_seed)
  restored = checkpointer.restore_latest_all(abstract_state)
  if restored is None:
    return None, iterator
  state, iterator_states, step = restored
  try:
    iterator_state = data_resume.state_for_this_process(
        iterator, iterator_states, process_index=jax.process_index(), process_count=jax.process_count(),
        step=step, allow_restart=allow_data_restart)
  except BaseException:
    _close(iterator)
    raise
  if iterator_state is None:
    _close(iterator)
    seed = data_resume.restart_seed(data_seed, step)
    iterator = make_iterator(seed)
    say(f"data stream restarted with seed {seed} (the checkpoint is of {len(iterator_states)} processes)")
  else:
    iterator.set_state(iterator_state)
  say(f"resumed from {checkpointer.directory}/{step}")
  return state, iterator


@gin.configurable(denylist=["stream"])
def train(*, model_dir=gin.REQUIRED, model_config: T5Config = gin.REQUIRED, mixture="synthetic",
          num_steps=gin.REQUIRED, batch_size=gin.REQUIRED, feature_lengths=None, pack=True,
          mesh_data=-1, mesh_fsdp=1, mesh_model=1, fsdp_embed=False,
          num_microbatches=1, z_loss=1e-4, label_smoothing=0.0, loss_normalizer="per_token",
          init_checkpoint=None, init_seed=0, data_seed=0, dropout_seed=0,
          checkpoint_every=1000, keep_checkpoints=3, async_checkpoints=True,
          data_restart_on_topology_change=False, log_every=1, eval_every=0, eval_tasks=(), eval_batches=4,
          eval_predictions=0, stream=sys.stdout):
  """Trains until `num_steps` optimizer updates are done (resuming from the latest checkpoint in
  model_dir). eval_tasks are evaluated every eval_every steps on eval_batches validation batches (loss, token
  accuracy) and, when eval_predictions > 0, on that many examples decoded greedily (exact match).
  Returns {"step", "state" (the final TrainState), "history" (per-step metric records), "preempted",
  "checkpoint_steps"}.
  A checkpoint of another number of processes continues its data stream exactly when the iterator can
  re-shard its position (the synthetic source can); otherwise the run stops with an error, unless
  data_restart_on_topology_change=True restarts the stream from a freshly seeded position (with a warning)."""
  if not isinstance(model_dir, (str, os.PathLike)) or not str(model_dir):
    raise config_checks.ConfigError(f"train.model_dir (MODEL_DIR in runs/finetune.gin) must be a directory, "
                                    f"got {model_dir!r}")
  model_dir = str(model_dir)
  feature_lengths = dict(feature_lengths or {"inputs": 2048, "targets": 512})
  config_checks.check_feature_lengths(feature_lengths)
  config_checks.check_steps(num_steps, checkpoint_every, eval_every)
  mesh_shape = config_checks.resolve_mesh_shape(mesh_data, mesh_fsdp, mesh_model, jax.device_count())
  config_checks.check_batch(batch_size, num_microbatches, mesh_shape, jax.process_count())
  step_lib.check_loss_normalizer(loss_normalizer)
  if not isinstance(model_config, T5Config):
    raise config_checks.ConfigError(f"train.model_config must be a T5Config (e.g. @get_config()), got "
                                    f"{model_config!r}")

  mesh = partitioning.make_mesh(**mesh_shape)
  rules = partitioning.logical_rules(fsdp_embed=fsdp_embed)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return _train_on_mesh(**locals())


def _train_on_mesh(*, model_dir, model_config, mixture, num_steps, batch_size, feature_lengths, pack, mesh,
                   rules, num_microbatches, z_loss, label_smoothing, loss_normalizer, init_checkpoint,
                   init_seed, data_seed, dropout_seed, checkpoint_every, keep_checkpoints, async_checkpoints,
                   data_restart_on_topology_change, log_every, eval_every, eval_tasks, eval_batches,
                   eval_predictions, stream, **unused):
  del unused
  say = (lambda message: print(message, file=stream, flush=True)) if stream is not None else (lambda m: None)
  model = t5.Transformer(model_config)
  schedule = schedules.make_schedule()
  tx = optimizer_lib.make_optimizer(schedule)
  abstract_state, shardings = state_lib.state_shardings(model, tx, mesh, rules)
  batch_sharding = partitioning.batch_sharding(mesh)

  checkpointer = checkpoints_lib.Checkpointer(model_dir, keep=keep_checkpoints, use_async=async_checkpoints)
  make_iterator = lambda seed: batches_lib.make_train_iterator(
      mixture, batch_size=batch_size, feature_lengths=feature_lengths, pack=pack, seed=seed,
      vocab_size=model_config.vocab_size)
  try:
    state, iterator = _resume(checkpointer, abstract_state, make_iterator, data_seed=data_seed,
                              allow_data_restart=data_restart_on_topology_change, say=say)
    if state is None and init_checkpoint:
      state = state_lib.create_train_state(model, tx, shardings,
                                           params=_load_initial_params(init_checkpoint, model_config))
      say(f"initialized parameters from {init_checkpoint}")
    elif state is None:
      state = state_lib.create_train_state(model, tx, shardings, seed=init_seed)
      say(f"initialized parameters at random (seed {init_seed})")
  except BaseException:
    checkpointer.close()
    raise
  start_step = int(jax.device_get(state.step))
  if jax.process_index() == 0 and stream is not None and start_step == 0:
    leaves = jax.tree.leaves(abstract_state.params)
    say(f"model: {len(leaves)} parameter arrays, {sum(x.size for x in leaves):,} parameters; mesh "
        + " x ".join(f"{name}={size}" for name, size in mesh.shape.items()))
    if mesh.devices.size > 1:
      say(partitioning.describe_shardings(abstract_state.params, shardings.params))

  train_step = step_lib.make_train_step(
      model, tx, schedule, z_loss=z_loss, label_smoothing=label_smoothing, loss_normalizer=loss_normalizer,
      num_microbatches=num_microbatches, dropout_seed=dropout_seed,
      enable_dropout=model_config.dropout_rate > 0)
  jitted = jax.jit(train_step, in_shardings=(shardings, batch_sharding), out_shardings=(shardings, None),
                   donate_argnums=(0,))
  rows = batch_size // jax.process_count()
  next_batch = _host_batch_fn(iterator, rows, feature_lengths)
  logger = metrics_lib.MetricsLogger(model_dir, model_config=model_config, batch_size=batch_size,
                                     input_length=feature_lengths["inputs"],
                                     target_length=feature_lengths["targets"], log_every=log_every,
                                     stream=stream)
  evaluator = None
  if eval_tasks and eval_every:
    from flan.trainer import evaluation  # pylint: disable=import-outside-toplevel
    tokenizer = None
    if eval_predictions and batches_lib.vocabulary_file(mixture):
      from flan.models.tokenizer import Tokenizer  # pylint: disable=import-outside-toplevel
      tokenizer = Tokenizer(batches_lib.vocabulary_file(mixture))
    evaluator = evaluation.Evaluator(model, eval_tasks, batch_size=batch_size, feature_lengths=feature_lengths,
                                     num_batches=eval_batches, batch_sharding=batch_sharding,
                                     params_sharding=shardings.params, vocab_size=model_config.vocab_size,
                                     tokenizer=tokenizer, num_predictions=eval_predictions, mesh=mesh,
                                     rules=rules)
  result = {"step": start_step, "state": state, "history": logger.history, "preempted": False,
            "checkpoint_steps": []}

  def report_finished_write():
    finished = checkpointer.take_finished_write()
    if finished is not None and checkpointer.use_async:
      written, seconds = finished
      logger.event(written, {"checkpoint_background_write_s": seconds},
                   f"checkpoint step {written}: written in the background in {seconds:.2f}s")

  def save(state):
    started = time.perf_counter()
    saved = checkpointer.save(state, iterator_state=iterator.get_state(), model_config=model_config,
                              gin_config=gin.operative_config_str())
    blocked, waited = time.perf_counter() - started, checkpointer.last_wait_s
    result["checkpoint_steps"].append(saved)
    report_finished_write()  # the previous save's, which this save waited for
    logger.event(saved, {"checkpoint_save_s": blocked, "checkpoint_wait_previous_s": waited},
                 f"checkpoint step {saved}: save blocked the loop {blocked:.2f}s"
                 + (f" ({waited:.2f}s of it waiting for the previous write)" if waited >= 0.005 else "")
                 + ("; writing in the background" if checkpointer.use_async else ""))
    logger.reset_clock()

  def wait_for_last_write():
    waited = checkpointer.wait()
    if checkpointer.use_async and result["checkpoint_steps"]:
      logger.event(result["checkpoint_steps"][-1], {"checkpoint_final_wait_s": waited},
                   f"checkpoint step {result['checkpoint_steps'][-1]}: the loop waited {waited:.2f}s at the end "
                   "for the background write")
    report_finished_write()

  try:
    with _Preemption() as preemption:
      if start_step >= num_steps:
        say(f"already at step {start_step} >= num_steps {num_steps}; nothing to do")
        return result
      _write_run_files(model_dir, mixture)
      step = start_step
      host_batch = next_batch()
      started = time.perf_counter()
      compiled = jitted.lower(state, batches_lib.to_global(host_batch, batch_sharding)).compile()
      compile_s = time.perf_counter() - started
      logger.event(step, {"compile_s": compile_s}, f"compiled the train step in {compile_s:.1f}s")
      while True:
        state, device_metrics = compiled(state, batches_lib.to_global(host_batch, batch_sharding))
        step += 1
        logger.submit(step, device_metrics, metrics_lib.batch_token_counts(host_batch))
        done = step >= num_steps
        stop = preemption.agreed(step)
        if step % checkpoint_every == 0 or done or stop:
          logger.flush()  # a non-finite loss raises here, before anything is saved
          save(state)
        if evaluator is not None and (step % eval_every == 0 or done):
          logger.flush()
          results = evaluator.evaluate(state.params)
          logger.event(step, results, "eval step %d: %s" % (step, ", ".join(
              f"{k} {v:.4f}" for k, v in results.items())))
          logger.reset_clock()
        if stop and not done:
          say(f"SIGTERM received: saved step {step}, exiting")
          result["preempted"] = True
          break
        if done:
          break
        host_batch = next_batch()
      logger.flush()
      result["step"] = step
      result["state"] = state
      wait_for_last_write()
  finally:
    checkpointer.close()
    logger.close()
  return result


def _write_run_files(model_dir, mixture):
  """config.gin (every binding of this run) and the vocabulary as spiece.model, so the model directory is
  usable by flan-infer / flan-eval on its own."""
  if jax.process_index() != 0:
    return
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, "config.gin"), "w", encoding="utf-8") as f:
    f.write(gin.config_str())
  vocabulary = batches_lib.vocabulary_file(mixture)
  if vocabulary:
    shutil.copyfile(vocabulary, os.path.join(model_dir, "spiece.model"))
