"""The train loop: set up (flan.trainer.session) -> run steps -> finish. Metrics every step, checkpoints every
checkpoint_every steps and at the end, evaluation every eval_every steps; SIGTERM saves and exits cleanly; a
non-finite loss stops the run with an error and keeps the last good checkpoint. SIGTERM (preemption) and SIGINT
(Ctrl-C) save a checkpoint at the step boundary and stop (flan.trainer.interrupts)."""
import sys
import time

import gin

from flan import partitioning
from flan.trainer import data_source as data_source_lib
from flan.trainer import interrupts
from flan.trainer import metrics as metrics_lib
from flan.trainer import session as session_lib
from flan.trainer.run_config import RunConfig


def train(stream=sys.stdout, **settings):
  """Trains the run that gin's `train.*` bindings describe, with `settings` (RunConfig fields) overriding
  them, until num_steps optimizer updates are done (resuming from the latest checkpoint in model_dir).
  Returns {"step", "state" (the final TrainState), "history" (per-step metric records), "preempted",
  "checkpoint_steps"}."""
  return run(RunConfig(**settings), stream=stream)


def run(config: RunConfig, stream=sys.stdout):
  """Trains `config`. Everything that can be checked without compiling is checked first."""
  config.require_model_dir()
  data = data_source_lib.resolve(config.mixture, config.model_config.vocab_size, eval_tasks=config.eval_tasks)
  mesh = partitioning.make_mesh(**config.mesh_shape)
  rules = partitioning.logical_rules(fsdp_embed=config.fsdp_embed)
  with partitioning.mesh_context(mesh, rules):
    session = session_lib.open_session(config, data, mesh, rules, stream)
    try:
      return run_steps(session)
    finally:
      session.close()


def run_steps(session):
  """The step loop, from the session's state to num_steps (or a SIGTERM)."""
  config, result = session.config, _result(session, session.start_step)
  if session.start_step >= config.final_step:
    session.say(f"already at step {session.start_step} >= {config.final_step} (step_offset + num_steps); "
                "nothing to do")
    return result
  session_lib.write_run_files(config.model_dir, session.data)
  with interrupts.StopSignals() as preemption:  # a signal during the compile stops after the first step
    host_batch = session.next_batch()
    compiled = _compile(session, host_batch)
    step = session.start_step
    while True:
      session.state, device_metrics = compiled(session.state, _global(session, host_batch))
      step += 1
      session.logger.submit(step, device_metrics, metrics_lib.batch_token_counts(host_batch),
                            host_values={"data_wait_s": session.data_wait_s})
      session.checkpointer.check()  # a failed background checkpoint write stops the run at once
      done, stop = step >= config.final_step, preemption.agreed(step)
      if step % config.checkpoint_every == 0 or done or stop:
        session.logger.flush()  # a non-finite loss raises here, before anything is saved
        save_checkpoint(session)
      if session.evaluators and (step % config.eval_every == 0 or done):
        evaluate(session, step)
      if stop and not done:
        session.say(f"{preemption.signal_name} received: saved step {step}, exiting")
        result.update(preempted=True, stop_signal=preemption.signal_name, exit_status=preemption.exit_status)
        break
      if done:
        break
      host_batch = session.next_batch()
  session.logger.flush()
  wait_for_last_write(session)
  return dict(result, step=step, state=session.state)


def _result(session, step):
  return {"step": step, "state": session.state, "history": session.logger.history, "preempted": False,
          "checkpoint_steps": session.checkpoint_steps}


def _global(session, host_batch):
  return data_source_lib.to_global(host_batch, session.program.batch_sharding)


def _compile(session, host_batch):
  started = time.perf_counter()
  compiled = session.program.lower(session.state, _global(session, host_batch)).compile()
  seconds = time.perf_counter() - started
  session.logger.event(session.start_step, {"compile_s": seconds}, f"compiled the train step in {seconds:.1f}s")
  return compiled


def evaluate(session, step):
  """Every evaluator's scores, logged; a new best benchmark score keeps this step's state apart."""
  session.logger.flush()
  results = {}
  for evaluator in session.evaluators:
    results.update(evaluator(session.state.params))
  session.logger.event(step, results, "eval step %d: %s" % (step, ", ".join(
      f"{k} {v:.4f}" for k, v in results.items())))
  if session.best is not None and session.best.is_better(results):
    seconds = session.best.keep(session.state, session.iterator.get_state())
    session.best.record.update(step, results)
    session.logger.event(step, {"best_checkpoint_save_s": seconds},
                         f"best {session.best.key} so far: kept step {step} in {session.best.directory}")
  session.logger.reset_clock()


def save_checkpoint(session):
  """Saves the session's state (asynchronously when configured) and logs how long the loop was blocked."""
  checkpointer, logger = session.checkpointer, session.logger
  started = time.perf_counter()
  saved = checkpointer.save(session.state, iterator_state=session.iterator.get_state(),
                            model_config=session.config.model_config, gin_config=gin.operative_config_str())
  blocked, waited = time.perf_counter() - started, checkpointer.last_wait_s
  session.checkpoint_steps.append(saved)
  report_finished_write(session)  # the previous save's, which this save waited for
  logger.event(saved, {"checkpoint_save_s": blocked, "checkpoint_wait_previous_s": waited},
               f"checkpoint step {saved}: save blocked the loop {blocked:.2f}s"
               + (f" ({waited:.2f}s of it waiting for the previous write)" if waited >= 0.005 else "")
               + ("; writing in the background" if checkpointer.use_async else ""))
  logger.reset_clock()


def report_finished_write(session):
  finished = session.checkpointer.take_finished_write()
  if finished is not None and session.checkpointer.use_async:
    written, seconds = finished
    session.logger.event(written, {"checkpoint_background_write_s": seconds},
                         f"checkpoint step {written}: written in the background in {seconds:.2f}s")


def wait_for_last_write(session):
  waited = session.checkpointer.wait()
  if session.checkpointer.use_async and session.checkpoint_steps:
    last = session.checkpoint_steps[-1]
    session.logger.event(last, {"checkpoint_final_wait_s": waited},
                         f"checkpoint step {last}: the loop waited {waited:.2f}s at the end for the background write")
  report_finished_write(session)
