"""The one place the jitted, sharded train step (and eval step) is built from a run configuration.

The train loop, the AOT memory planner (flan.aot) and bench/train_throughput.py all call
`build_train_program`, so the program the memory table describes is the program training runs.
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from flan import partitioning
from flan import xla_options
from flan.data import decoder_features
from flan.models import families
from flan.trainer import optimizer as optimizer_lib
from flan.trainer import schedules
from flan.trainer import state as state_lib
from flan.trainer import step as step_lib

ENCODER_FEATURES = ("encoder_input_tokens",)
DECODER_FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")
PACKING_FEATURES = {"encoder": ("encoder_segment_ids", "encoder_positions"),
                    "decoder": ("decoder_segment_ids", "decoder_positions")}


def make_model(model_config):
  """The flax network for a model configuration (T5 or decoder-only)."""
  return families.model_for(model_config)


def feature_names(run):
  """The model features of the run's batches, in a fixed order."""
  if run.family == "decoder":
    return decoder_features.feature_names(run.converter, run.pack)
  names = ENCODER_FEATURES + DECODER_FEATURES
  if run.pack:
    names += PACKING_FEATURES["encoder"] + PACKING_FEATURES["decoder"]
  return names


@dataclasses.dataclass(frozen=True)
class TrainProgram:
  """A run's model, optimizer, state layout and jitted train step, for one mesh and rules table."""
  run: Any  # flan.trainer.run_config.RunConfig
  mesh: Any
  rules: Any
  model: Any
  tx: Any
  schedule: Callable
  abstract_state: Any  # TrainState of ShapeDtypeStructs carrying their shardings
  state_shardings: Any
  batch_sharding: NamedSharding
  step: Callable  # jitted (state, global batch) -> (state, metrics); donates the state

  def abstract_batch(self) -> dict:
    """The global batch the step takes, as ShapeDtypeStructs with the batch sharding."""
    return {name: jax.ShapeDtypeStruct((self.run.batch_size, self.run.feature_length(name)), jnp.int32,
                                       sharding=self.batch_sharding)
            for name in feature_names(self.run)}

  def lower(self, state, batch):
    """Lowers the step for these arguments (concrete arrays or ShapeDtypeStructs) on the run's mesh."""
    with partitioning.mesh_context(self.mesh, self.rules):
      return self.step.lower(state, batch)


def build_train_program(run, mesh, rules=None) -> TrainProgram:
  """The train step of `run` on `mesh` (rules default to the run's logical rules). Reads the gin bindings of
  make_schedule and make_optimizer."""
  rules = partitioning.logical_rules(fsdp_embed=run.fsdp_embed) if rules is None else rules
  model = make_model(run.model_config)
  schedule = schedules.make_schedule()
  tx = optimizer_lib.make_optimizer(schedule)
  abstract_state, shardings = state_lib.state_shardings(model, tx, mesh, rules)
  batch_sharding = partitioning.batch_sharding(mesh)
  train_step = step_lib.make_train_step(
      model, tx, schedule, z_loss=run.z_loss, label_smoothing=run.label_smoothing,
      loss_normalizer=run.loss_normalizer, num_microbatches=run.num_microbatches,
      dropout_seed=run.dropout_seed, enable_dropout=run.dropout_enabled)
  jitted = xla_options.jit_for(train_step, xla_options.mesh_platform(mesh),
                               in_shardings=(shardings, batch_sharding),
                               out_shardings=(shardings, NamedSharding(mesh, PartitionSpec())), donate_argnums=(0,))
  return TrainProgram(run=run, mesh=mesh, rules=rules, model=model, tx=tx, schedule=schedule,
                      abstract_state=abstract_state, state_shardings=shardings, batch_sharding=batch_sharding,
                      step=jitted)


def build_eval_step(model, params_sharding, batch_sharding):
  """jitted eval_step(params, global batch) -> summed loss, weights and correct tokens (flan.trainer.step)."""
  return xla_options.jit_for(step_lib.make_eval_step(model), xla_options.mesh_platform(batch_sharding.mesh),
                             in_shardings=(params_sharding, batch_sharding))
