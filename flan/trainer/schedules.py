"""Learning-rate schedules: constant, inverse square root with warmup, linear warmup.

Each schedule maps the optimizer step to a learning rate. `step_offset` shifts the step the schedule sees,
for finetuning that continues a pretrained run's schedule (e.g. T5 v1.1 was pretrained for 1,000,000 steps
under an rsqrt schedule; finetuning from it with `step_offset=1_000_000` continues that schedule).
"""
import gin
import jax.numpy as jnp

SCHEDULE_NAMES = ("constant", "rsqrt", "linear_warmup")


@gin.configurable
def make_schedule(name="constant", base_learning_rate=5e-4, warmup_steps=0, step_offset=0):
  """Returns step -> learning rate.

  constant:      base_learning_rate.
  rsqrt:         base_learning_rate / sqrt(max(step, warmup_steps)); flat during warmup (T5's pretraining
                 schedule is rsqrt with base 1.0 and 10,000 warmup steps).
  linear_warmup: base_learning_rate * min(1, (step + 1) / warmup_steps), then constant.
  """
  if name not in SCHEDULE_NAMES:
    raise ValueError(f"unknown learning-rate schedule {name!r}; known: {', '.join(SCHEDULE_NAMES)}")
  if warmup_steps < 0:
    raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
  if name == "rsqrt" and warmup_steps == 0 and step_offset == 0:
    raise ValueError("the rsqrt schedule needs warmup_steps >= 1 or a step_offset (1/sqrt(0) is infinite)")
  base = float(base_learning_rate)

  def constant(step):
    del step
    return jnp.asarray(base, jnp.float32)

  def rsqrt(step):
    step = jnp.asarray(step, jnp.float32) + step_offset
    return base / jnp.sqrt(jnp.maximum(step, max(warmup_steps, 1)))

  def linear_warmup(step):
    if warmup_steps == 0:
      return jnp.asarray(base, jnp.float32)
    step = jnp.asarray(step, jnp.float32) + step_offset
    return base * jnp.minimum(1.0, (step + 1.0) / warmup_steps)

  return {"constant": constant, "rsqrt": rsqrt, "linear_warmup": linear_warmup}[name]
