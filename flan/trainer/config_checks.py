"""Checks of a run's configuration that must fail before anything is compiled, naming the bad value."""
import logging
import math
import os

import gin


class ConfigError(ValueError):
  pass


def parse_gin(gin_files=(), bindings=(), search_paths=()):
  """Parses gin files and KEY=VALUE bindings; an unknown configurable or parameter raises ConfigError
  naming the binding (gin would otherwise only complain when the function is first called)."""
  for path in search_paths:
    gin.add_config_file_search_path(path)
  for binding in bindings:
    if "=" not in binding:
      raise ConfigError(f"gin binding {binding!r} is not of the form KEY=VALUE")
  resolved = [_find_gin_file(path, search_paths) for path in gin_files]
  quiet = _DropGinPathMisses()
  logging.getLogger().addFilter(quiet)
  try:
    gin.parse_config_files_and_bindings(resolved, list(bindings), skip_unknown=False, finalize_config=False)
  except (ValueError, KeyError, ImportError, IOError, SyntaxError) as error:
    raise ConfigError(f"bad gin configuration: {error}") from error
  finally:
    logging.getLogger().removeFilter(quiet)


class _DropGinPathMisses(logging.Filter):
  """gin logs an error for each search path an include is not under, even when a later one has it."""

  def filter(self, record):
    return not str(record.msg).startswith("Path not found")


def _find_gin_file(path, search_paths):
  for candidate in [path] + [os.path.join(directory, path) for directory in search_paths]:
    if os.path.isfile(candidate):
      return candidate
  raise ConfigError(f"gin file {path!r} not found (looked as given and under {list(search_paths)})")


def data_parallel_size(mesh_shape):
  return mesh_shape["data"] * mesh_shape["fsdp"]


def resolve_mesh_shape(data, fsdp, model, num_devices):
  """Fills the one -1 axis with the remaining devices; errors name the sizes."""
  sizes = {"data": data, "fsdp": fsdp, "model": model}
  for name, size in sizes.items():
    if not isinstance(size, int) or (size < 1 and size != -1):
      raise ConfigError(f"mesh axis {name} has size {size!r}; use a positive int or -1 (fill)")
  fill = [name for name, size in sizes.items() if size == -1]
  if len(fill) > 1:
    raise ConfigError(f"only one mesh axis may be -1, got {fill}")
  fixed = math.prod(size for size in sizes.values() if size != -1)
  if fixed > num_devices:
    raise ConfigError(f"mesh data={data} fsdp={fsdp} model={model} needs {fixed} devices but only "
                      f"{num_devices} are available")
  if fill:
    if num_devices % fixed:
      raise ConfigError(f"mesh data={data} fsdp={fsdp} model={model}: {num_devices} devices are not "
                        f"divisible by {fixed}")
    sizes[fill[0]] = num_devices // fixed
  return sizes


def check_batch(batch_size, num_microbatches, mesh_shape, process_count=1):
  if not isinstance(batch_size, int) or batch_size < 1:
    raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
  if not isinstance(num_microbatches, int) or num_microbatches < 1:
    raise ConfigError(f"num_microbatches must be a positive int, got {num_microbatches!r}")
  if batch_size % num_microbatches:
    raise ConfigError(f"batch_size {batch_size} is not divisible by num_microbatches {num_microbatches}")
  parallel = data_parallel_size(mesh_shape)
  microbatch = batch_size // num_microbatches
  if microbatch % parallel:
    raise ConfigError(
        f"batch_size {batch_size} (microbatch {microbatch} with num_microbatches={num_microbatches}) is not "
        f"divisible by the data-parallel size {parallel} (mesh data={mesh_shape['data']} x "
        f"fsdp={mesh_shape['fsdp']})")
  if batch_size % process_count:
    raise ConfigError(f"batch_size {batch_size} is not divisible by the number of processes {process_count}")


def check_feature_lengths(feature_lengths):
  if not isinstance(feature_lengths, dict) or set(feature_lengths) != {"inputs", "targets"}:
    raise ConfigError(f"feature_lengths must be a dict with keys 'inputs' and 'targets', got {feature_lengths!r}")
  for key, value in feature_lengths.items():
    if not isinstance(value, int) or value < 1:
      raise ConfigError(f"feature_lengths[{key!r}] must be a positive int, got {value!r}")


def check_steps(num_steps, checkpoint_every, eval_every):
  for name, value in (("num_steps", num_steps), ("checkpoint_every", checkpoint_every),
                      ("eval_every", eval_every)):
    if not isinstance(value, int) or value < 0:
      raise ConfigError(f"{name} must be an int >= 0, got {value!r}")
  if checkpoint_every == 0:
    raise ConfigError("checkpoint_every must be >= 1")
