"""The run configuration: one frozen, validated description of a training run, read by the trainer, the AOT
memory planner and the benchmarks alike.

It is gin's `train` configurable, so every `train.KEY = VALUE` binding (runs/finetune.gin) sets a field.
Everything is checked when it is built, before anything compiles, and the values derived from it (mesh shape,
rows per host, microbatch size) are computed here once. The learning-rate schedule and Adafactor take their
own gin bindings (`make_schedule.*`, `make_optimizer.*`) when the step is built (flan.trainer.step).
"""
import dataclasses
import os
from typing import Any, Mapping, Optional, Tuple

import gin
import jax

from flan import partitioning
from flan.errors import ConfigError
from flan.models import losses
from flan.models.config import T5Config
from flan.models.decoder_config import DecoderConfig

DEFAULT_FEATURE_LENGTHS = {"inputs": 2048, "targets": 512}
MODEL_CONFIG_TYPES = (T5Config, DecoderConfig)
BENCHMARK_DIR_KEYS = ("data_dir", "mmlu_dir", "bbh_dir", "tydiqa_dir", "mgsm_dir", "mmlu_cot_prompts")


@gin.configurable("train", denylist=["num_devices", "process_count"])
@dataclasses.dataclass(frozen=True)
class RunConfig:
  """A training run. `num_devices` / `process_count` default to this machine's (the AOT planner sets the
  target's). `model_dir` is needed to train, not to plan."""
  model_config: Any = gin.REQUIRED
  num_steps: int = gin.REQUIRED
  batch_size: int = gin.REQUIRED
  model_dir: Optional[str] = None
  mixture: str = "synthetic"
  feature_lengths: Optional[Mapping[str, int]] = None
  pack: bool = True
  mesh_data: int = -1
  mesh_fsdp: int = 1
  mesh_model: int = 1
  fsdp_embed: bool = False
  num_microbatches: int = 1
  z_loss: float = 1e-4
  label_smoothing: float = 0.0
  loss_normalizer: Any = "per_token"
  init_checkpoint: Optional[str] = None
  init_seed: int = 0
  data_seed: int = 0
  dropout_seed: int = 0
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  async_checkpoints: bool = True
  data_restart_on_topology_change: bool = False
  log_every: int = 1
  eval_every: int = 0
  eval_tasks: Tuple[str, ...] = ()
  eval_batches: int = 4
  eval_predictions: int = 0
  eval_benchmarks: str = ""
  eval_benchmark_dir: Any = None  # the folder holding mmlu/ bbh/ ..., or {"mmlu_dir": ..., "bbh_dir": ...}
  eval_benchmark_prompts: int = 200
  init_optimizer_state: bool = False
  step_offset: int = 0
  bos_id: Optional[int] = 0
  prefetch_batches: int = 2
  num_devices: Optional[int] = None
  process_count: Optional[int] = None
  # Derived in __post_init__ (not settable).
  mesh_shape: Mapping[str, int] = dataclasses.field(init=False, default=None)
  rows_per_host: int = dataclasses.field(init=False, default=0)
  microbatch_size: int = dataclasses.field(init=False, default=0)

  def __post_init__(self):
    derived = {
        "feature_lengths": dict(self.feature_lengths or DEFAULT_FEATURE_LENGTHS),
        "eval_tasks": tuple(self.eval_tasks or ()),
        "num_devices": jax.device_count() if self.num_devices is None else self.num_devices,
        "process_count": jax.process_count() if self.process_count is None else self.process_count,
    }
    for name, value in derived.items():
      object.__setattr__(self, name, value)
    if not isinstance(self.model_config, MODEL_CONFIG_TYPES):
      raise ConfigError(f"train.model_config must be a T5Config (@get_config()) or a DecoderConfig "
                        f"(@get_decoder_config()), got {self.model_config!r}")
    if self.bos_id is not None and (not _is_int(self.bos_id) or self.bos_id < 0):
      raise ConfigError(f"train.bos_id must be a token id >= 0 or None, got {self.bos_id!r}")
    if self.family == "t5" and self.bos_id != 0:
      raise ConfigError(f"train.bos_id={self.bos_id!r} is for decoder-only models; T5 decoders start from 0")
    _check_feature_lengths(self.feature_lengths)
    _check_counts(self)
    _check_loss_normalizer(self.loss_normalizer)
    mesh_shape = partitioning.resolve_mesh_shape(self.mesh_data, self.mesh_fsdp, self.mesh_model,
                                                 self.num_devices)
    object.__setattr__(self, "mesh_shape", mesh_shape)
    _check_batch(self.batch_size, self.num_microbatches, mesh_shape, self.process_count)
    object.__setattr__(self, "rows_per_host", self.batch_size // self.process_count)
    object.__setattr__(self, "microbatch_size", self.batch_size // self.num_microbatches)

  @property
  def family(self) -> str:
    """"t5" (encoder-decoder) or "decoder" (decoder-only, one packed stream per row)."""
    return "decoder" if isinstance(self.model_config, DecoderConfig) else "t5"

  @property
  def converter(self) -> str:
    """The batch layout: "encdec", or for decoder-only models "decoder" (causal) / "prefix_lm"."""
    if self.family == "t5":
      return "encdec"
    return "prefix_lm" if self.model_config.prefix_lm else "decoder"

  def feature_length(self, name: str) -> int:
    """The length of a model feature: decoder-only rows hold inputs + targets."""
    if self.family == "decoder":
      return self.feature_lengths["inputs"] + self.feature_lengths["targets"]
    return self.feature_lengths["inputs" if name.startswith("encoder") else "targets"]

  @property
  def final_step(self) -> int:
    """The step the run ends at: it starts at step_offset (T5X numbering continues the pretraining step)."""
    return self.step_offset + self.num_steps

  @property
  def data_parallel_size(self) -> int:
    return self.mesh_shape["data"] * self.mesh_shape["fsdp"]

  @property
  def dropout_enabled(self) -> bool:
    return self.model_config.dropout_rate > 0

  def require_model_dir(self) -> str:
    if not isinstance(self.model_dir, (str, os.PathLike)) or not str(self.model_dir):
      raise ConfigError(f"train.model_dir (MODEL_DIR in runs/finetune.gin) must be a directory, got "
                        f"{self.model_dir!r}")
    return str(self.model_dir)

  def replace(self, **changes) -> "RunConfig":
    """A copy with some settings changed (validated again)."""
    settings = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
    settings.update(changes)
    return RunConfig(**settings)


def _check_feature_lengths(feature_lengths):
  if set(feature_lengths) != {"inputs", "targets"}:
    raise ConfigError(f"train.feature_lengths must be a dict with keys 'inputs' and 'targets', got "
                      f"{feature_lengths!r}")
  for key, value in feature_lengths.items():
    if not _is_int(value) or value < 1:
      raise ConfigError(f"train.feature_lengths[{key!r}] must be a positive int, got {value!r}")


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


def _check_counts(run):
  for name in ("num_steps", "checkpoint_every", "eval_every", "log_every", "eval_batches", "eval_predictions",
               "keep_checkpoints", "eval_benchmark_prompts", "step_offset", "prefetch_batches"):
    value = getattr(run, name)
    if not _is_int(value) or value < 0:
      raise ConfigError(f"train.{name} must be an int >= 0, got {value!r}")
  for name in ("checkpoint_every", "log_every"):
    if getattr(run, name) == 0:
      raise ConfigError(f"train.{name} must be >= 1")
  if run.eval_benchmarks and not (run.eval_every and run.eval_benchmark_dir and run.eval_benchmark_prompts):
    raise ConfigError("train.eval_benchmarks needs train.eval_every >= 1, train.eval_benchmark_dir (the folder "
                      "holding mmlu/ bbh/ ...) and train.eval_benchmark_prompts >= 1")
  if isinstance(run.eval_benchmark_dir, Mapping):
    unknown = sorted(set(run.eval_benchmark_dir) - set(BENCHMARK_DIR_KEYS))
    if unknown:
      raise ConfigError(f"train.eval_benchmark_dir: unknown keys {unknown}; use {BENCHMARK_DIR_KEYS}")
  if run.init_optimizer_state and not run.init_checkpoint:
    raise ConfigError("train.init_optimizer_state needs train.init_checkpoint (a T5X checkpoint with Adafactor "
                      "state)")
  if run.keep_checkpoints == 0:
    raise ConfigError("train.keep_checkpoints must be >= 1 (the final checkpoint is always kept; 1 keeps "
                      "only the latest)")


def _check_loss_normalizer(loss_normalizer):
  if isinstance(loss_normalizer, (int, float)) and not isinstance(loss_normalizer, bool):
    if loss_normalizer <= 0:
      raise ConfigError(f"train.loss_normalizer: a constant must be > 0, got {loss_normalizer}")
  elif loss_normalizer not in losses.NORMALIZERS:
    raise ConfigError(f"train.loss_normalizer: unknown {loss_normalizer!r}; use one of {losses.NORMALIZERS} "
                      "or a number (233472.0 for Mesh-TensorFlow-pretrained T5)")


def _check_batch(batch_size, num_microbatches, mesh_shape, process_count):
  if not _is_int(batch_size) or batch_size < 1:
    raise ConfigError(f"train.batch_size must be a positive int, got {batch_size!r}")
  if not _is_int(num_microbatches) or num_microbatches < 1:
    raise ConfigError(f"train.num_microbatches must be a positive int, got {num_microbatches!r}")
  if batch_size % num_microbatches:
    raise ConfigError(f"train.batch_size {batch_size} is not divisible by train.num_microbatches "
                      f"{num_microbatches}")
  parallel = mesh_shape["data"] * mesh_shape["fsdp"]
  microbatch = batch_size // num_microbatches
  if microbatch % parallel:
    raise ConfigError(
        f"train.batch_size {batch_size} (microbatch {microbatch} with num_microbatches={num_microbatches}) is "
        f"not divisible by the data-parallel size {parallel} (mesh data={mesh_shape['data']} x "
        f"fsdp={mesh_shape['fsdp']})")
  if batch_size % process_count:
    raise ConfigError(f"train.batch_size {batch_size} is not divisible by the number of processes "
                      f"{process_count}")
