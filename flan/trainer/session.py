"""Setting up a training run: the program on the mesh, the checkpointer, the train state (restored, loaded
from an initial checkpoint, or random), the data iterator positioned to continue, metrics and evaluation."""
import contextlib
import dataclasses
import os
import shutil
import time
from typing import Any, Callable, List, Mapping, Optional

import gin
import jax

from flan import partitioning
from flan.errors import ConfigError
from flan.trainer import checkpoints as checkpoints_lib
from flan.trainer import data_resume
from flan.trainer import metrics as metrics_lib
from flan.trainer import prefetch
from flan.trainer import program as program_lib
from flan.trainer import state as state_lib

ARCHITECTURE_FIELDS = {
    "t5": ("emb_dim", "num_heads", "head_dim", "mlp_dim", "num_encoder_layers", "num_decoder_layers", "vocab_size",
           "feed_forward", "logits_via_embedding", "relative_attention_num_buckets"),
    "decoder": ("emb_dim", "num_heads", "num_kv_heads", "head_dim", "mlp_dim", "num_layers", "vocab_size",
                "tie_embeddings", "parallel_block", "rope_theta", "rope_type", "mlp_activation", "rms_norm_eps"),
}


@dataclasses.dataclass
class TrainSession:
  """What a run holds while it trains."""
  config: Any  # RunConfig
  program: program_lib.TrainProgram
  data: Any  # DataSource
  checkpointer: checkpoints_lib.Checkpointer
  iterator: Any
  logger: metrics_lib.MetricsLogger
  evaluators: List[Callable[[Any], dict]]  # params -> {name: score}
  best: Optional[Any]  # flan.trainer.best_checkpoint.BestCheckpoint when benchmarks are evaluated
  state: Any
  start_step: int
  say: Callable[[str], None]
  checkpoint_steps: List[int] = dataclasses.field(default_factory=list)
  data_wait_s: float = 0.0  # how long the last next_batch() waited for the input pipeline

  def next_batch(self):
    """This process's next host batch, its shapes checked against the run's."""
    started = time.perf_counter()
    batch = next(self.iterator)
    self.data_wait_s = time.perf_counter() - started
    for name, value in batch.items():
      length = self.config.feature_length(name)
      if value.shape != (self.config.rows_per_host, length):
        raise ValueError(f"batch feature {name} has shape {value.shape}, expected "
                         f"({self.config.rows_per_host}, {length})")
    return batch

  def close(self):
    self.checkpointer.close()
    self.logger.close()
    close_iterator(self.iterator)


def printer(stream):
  if stream is None:
    return lambda message: None
  return lambda message: print(message, file=stream, flush=True)


def close_iterator(iterator):
  if hasattr(iterator, "close"):  # flan.data's BatchIterator stops its input pipeline
    iterator.close()


def open_session(config, data, mesh, rules, stream) -> TrainSession:
  """Everything a run needs before its first step; nothing is left open when this fails."""
  say = printer(stream)
  model_dir = config.require_model_dir()
  program = program_lib.build_train_program(config, mesh, rules)
  with contextlib.ExitStack() as opened:  # unwound only when setup fails
    checkpointer = checkpoints_lib.Checkpointer(model_dir, keep=config.keep_checkpoints,
                                                use_async=config.async_checkpoints)
    opened.callback(checkpointer.close)
    state, iterator, resumed = restore_or_initialize(config, program, data, checkpointer, say)
    opened.callback(lambda: close_iterator(iterator))  # the iterator as it is then (prefetching or not)
    if config.prefetch_batches:  # the host prepares the next batches while the device runs the step
      iterator = prefetch.Prefetcher(iterator, buffer_size=config.prefetch_batches)
    start_step = int(jax.device_get(state.step))
    if not resumed:
      describe_model(program, say)
    logger = metrics_lib.MetricsLogger(
        model_dir, model_config=config.model_config, batch_size=config.batch_size,
        input_length=config.feature_lengths["inputs"], target_length=config.feature_lengths["targets"],
        log_every=config.log_every, stream=stream)
    opened.callback(logger.close)
    if resumed:
      logger.mark_resume(start_step)  # metrics.jsonl readers keep the last record of each redone step
    evaluators, best = make_evaluators(config, program, data)
    opened.pop_all()
  return TrainSession(config=config, program=program, data=data, checkpointer=checkpointer, iterator=iterator,
                      logger=logger, evaluators=evaluators, best=best, state=state, start_step=start_step,
                      say=say)


def restore_or_initialize(config, program, data, checkpointer, say):
  """(train state, data iterator, whether it resumed a checkpoint of this run): the latest checkpoint's, else
  initial parameters and a fresh stream."""
  make_iterator = lambda seed: data.iterator(batch_size=config.batch_size, feature_lengths=config.feature_lengths,
                                             pack=config.pack, seed=seed, converter=config.converter,
                                             bos_id=config.bos_id)
  state, iterator = resume(checkpointer, program.abstract_state, make_iterator, data_seed=config.data_seed,
                           allow_data_restart=config.data_restart_on_topology_change, say=say)
  if state is not None:
    return state, iterator, True
  try:
    if config.init_checkpoint:
      params = load_initial_params(config.init_checkpoint, config.model_config)
      state = state_lib.create_train_state(program.model, program.tx, program.state_shardings, params=params,
                                           step=config.step_offset)
      say(f"initialized parameters from {config.init_checkpoint}")
      if config.init_optimizer_state:
        state = with_t5x_optimizer_state(state, config, program, say)
    else:
      state = state_lib.create_train_state(program.model, program.tx, program.state_shardings,
                                           seed=config.init_seed, step=config.step_offset)
      say(f"initialized parameters at random (seed {config.init_seed})")
  except BaseException:
    close_iterator(iterator)
    raise
  return state, iterator, False


def with_t5x_optimizer_state(state, config, program, say):
  """`state` with Adafactor's statistics and count from the T5X init checkpoint, so the finetune continues
  as T5X would (Adafactor's second-moment decay depends on its step count)."""
  from flan.models import t5x  # pylint: disable=import-outside-toplevel  # reads T5X files only when asked
  settings = optimizer_settings("factored", "min_dim_size_to_factor")
  t5x_step, factored = t5x.import_t5x_optimizer_state(config.init_checkpoint, config.model_config, **settings)
  opt_state = t5x.with_factored_state(jax.device_get(state.opt_state), factored)
  opt_state = jax.device_put(opt_state, program.state_shardings.opt_state)
  say(f"restored Adafactor state (step {t5x_step}) from {config.init_checkpoint}")
  return state.replace(opt_state=opt_state)


def optimizer_settings(*names):
  """make_optimizer's values of `names`: gin's bindings, else its defaults."""
  import inspect  # pylint: disable=import-outside-toplevel
  from flan.trainer import optimizer as optimizer_lib  # pylint: disable=import-outside-toplevel
  defaults = inspect.signature(optimizer_lib.make_optimizer).parameters
  settings = {}
  for name in names:
    try:
      settings[name] = gin.query_parameter(f"make_optimizer.{name}")
    except ValueError:
      settings[name] = defaults[name].default
  return settings


def resume(checkpointer, abstract_state, make_iterator, *, data_seed, allow_data_restart, say):
  """(the latest checkpoint's state or None when there is none, the data iterator positioned to continue
  it). The checkpoint may come from another number of processes (see flan.trainer.data_resume)."""
  iterator = make_iterator(data_seed)
  try:
    restored = checkpointer.restore_latest_all(abstract_state)
    if restored is None:
      return None, iterator
    state, iterator_states, step = restored
    iterator_state = data_resume.state_for_this_process(
        iterator, iterator_states, process_index=jax.process_index(), process_count=jax.process_count(),
        step=step, allow_restart=allow_data_restart)
  except BaseException:
    close_iterator(iterator)
    raise
  if iterator_state is None:
    close_iterator(iterator)
    seed = data_resume.restart_seed(data_seed, step)
    iterator = make_iterator(seed)
    say(f"data stream restarted with seed {seed} (the checkpoint is of {len(iterator_states)} processes)")
  else:
    iterator.set_state(iterator_state)
  say(f"resumed from {checkpointer.directory}/{step}")
  return state, iterator


def load_initial_params(path, model_config):
  """Parameters of a pretrained checkpoint in the configured model's layout; ConfigError on a mismatch."""
  # pylint: disable=import-outside-toplevel  # checkpoint readers are imported only when a run starts from one
  from flan.models import families
  pretrained_config, params = families.load_pretrained_any(path)
  family = families.family_of(model_config)
  if families.family_of(pretrained_config) != family:
    raise ConfigError(f"checkpoint {path} is a {families.family_of(pretrained_config)} model but "
                      f"train.model_config is a {family} model")
  different = {name: (getattr(pretrained_config, name), getattr(model_config, name))
               for name in ARCHITECTURE_FIELDS[family]
               if getattr(pretrained_config, name) != getattr(model_config, name)}
  if different:
    raise ConfigError(f"checkpoint {path} does not match the configured model: "
                      + ", ".join(f"{k} checkpoint={a} config={b}" for k, (a, b) in different.items()))
  if model_config.scan_layers:
    from flan.models import decoder_layout, layout
    params = (decoder_layout if family == "decoder" else layout).scan_params(params, model_config)
  return params


def describe_model(program, say):
  if jax.process_index() != 0:
    return
  leaves = jax.tree.leaves(program.abstract_state.params)
  say(f"model: {len(leaves)} parameter arrays, {sum(x.size for x in leaves):,} parameters; mesh "
      + " x ".join(f"{name}={size}" for name, size in program.mesh.shape.items()))
  if program.mesh.devices.size > 1:
    say(partitioning.describe_shardings(program.abstract_state.params, program.state_shardings.params))


def make_evaluators(config, program, data):
  """([params -> scores] for the eval tasks and the held-out benchmarks configured, the best-checkpoint
  keeper or None)."""
  evaluators, best = [], None
  if not config.eval_every:
    return evaluators, best
  tokenizer = None
  if (config.eval_predictions or config.eval_benchmarks) and data.vocabulary_file:
    from flan.models.tokenizer import Tokenizer  # pylint: disable=import-outside-toplevel
    tokenizer = Tokenizer(data.vocabulary_file)
  if config.eval_tasks:
    from flan.trainer import evaluation  # pylint: disable=import-outside-toplevel  # only runs that evaluate
    evaluators.append(evaluation.Evaluator(config, program, data, tokenizer=tokenizer).evaluate)
  if config.eval_benchmarks:
    if tokenizer is None:
      raise ConfigError("train.eval_benchmarks needs the vocabulary of a real mixture (train.mixture), not "
                        "synthetic data")
    from flan.evaluation import in_training  # pylint: disable=import-outside-toplevel  # only when asked
    from flan.trainer import best_checkpoint  # pylint: disable=import-outside-toplevel
    where = config.eval_benchmark_dir
    where = dict(where) if isinstance(where, Mapping) else {"data_dir": where}
    benchmarks = in_training.BenchmarkEvaluator(
        config.model_config, tokenizer, benchmarks=config.eval_benchmarks, num_prompts=config.eval_benchmark_prompts,
        seed=config.data_seed, max_input_length=config.feature_lengths["inputs"], **where)
    evaluators.append(lambda params: benchmarks.evaluate(params, mesh=program.mesh, rules=program.rules))
    best = best_checkpoint.BestCheckpoint(config.model_dir, config.model_config, data.vocabulary_file)
  return evaluators, best


def write_run_files(model_dir, data):
  """config.gin (every binding of this run) and the vocabulary as spiece.model, so the model directory is
  usable by flan-infer / flan-eval on its own."""
  if jax.process_index() != 0:
    return
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, "config.gin"), "w", encoding="utf-8") as f:
    f.write(gin.config_str())
  if data.vocabulary_file:
    shutil.copyfile(data.vocabulary_file, os.path.join(model_dir, "spiece.model"))
