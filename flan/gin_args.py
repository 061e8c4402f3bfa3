"""One way for every command to read gin files and bindings from its command line.

  --gin_file=F             a gin file (repeatable; looked up as given, then under the search paths)
  --gin.KEY=VALUE          a binding, e.g. --gin.train.num_steps=100 or --gin.MODEL_DIR="'/tmp/run'"
  --gin KEY=VALUE          the same
  --gin_bindings=KEY=VALUE the same (t5x's spelling)
  --gin_search_path=DIR    another directory to look for gin files and includes in

The default search paths are the current directory and the repository's gin/ folder.
Unknown configurables or parameters fail here, before anything is compiled, naming the binding.
"""
import logging
import os

import gin

from flan.errors import ConfigError

_VALUE_FLAGS = ("--gin_file", "--gin_search_path", "--gin_bindings", "--gin")


def split_gin_args(argv):
  """argv -> (gin files, bindings, search paths, the other arguments in order)."""
  files, bindings, paths, rest = [], [], [], []
  args = list(argv)
  while args:
    arg = args.pop(0)
    name, has_value, value = arg.partition("=")
    if name in _VALUE_FLAGS and not has_value:
      if not args:
        raise ConfigError(f"{name} needs a value")
      value = args.pop(0)
    if name == "--gin_file":
      files.append(value)
    elif name == "--gin_search_path":
      paths.append(value)
    elif name in ("--gin_bindings", "--gin"):
      bindings.append(value)
    elif name.startswith("--gin."):
      if not has_value:
        raise ConfigError(f"{arg!r} needs the form --gin.KEY=VALUE")
      bindings.append(f"{name[len('--gin.'):]}={value}")
    else:
      rest.append(arg)
  return files, bindings, paths, rest


def repository_gin_dir():
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin")


def default_search_paths():
  return [os.getcwd()] + ([repository_gin_dir()] if os.path.isdir(repository_gin_dir()) else [])


def parse_gin(gin_files=(), bindings=(), search_paths=None):
  """Parses gin files and KEY=VALUE bindings; an unknown configurable or parameter raises ConfigError
  naming the binding (gin would otherwise only complain when the function is first called)."""
  search_paths = default_search_paths() if search_paths is None else list(search_paths)
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
    raise ConfigError(f"bad gin configuration: {_one_line(error)}") from error
  finally:
    logging.getLogger().removeFilter(quiet)


def _one_line(error):
  """gin's message with its location lines ("In bindings string line 1", the binding) joined onto it."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return "; ".join(lines)


class _DropGinPathMisses(logging.Filter):
  """gin logs an error for each search path an include is not under, even when a later one has it."""

  def filter(self, record):
    return not str(record.msg).startswith("Path not found")


def _find_gin_file(path, search_paths):
  for candidate in [path] + [os.path.join(directory, path) for directory in search_paths]:
    if os.path.isfile(candidate):
      return candidate
  raise ConfigError(f"gin file {path!r} not found (looked as given and under {list(search_paths)})")
