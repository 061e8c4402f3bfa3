"""flan-train: `flan-train --gin_file=runs/finetune.gin --gin_file=flan_t5/small.gin --gin.KEY=VALUE ...`
(also `python -m flan.train`). Parses gin, joins the other hosts when there are any, and calls
`flan.trainer.loop.train`. gin files are looked up as given, then under the repository's gin/ folder.

Exit status: 0 when done or preempted (SIGTERM: checkpoint saved), 1 on a non-finite loss,
2 on a configuration error (printed with the offending value, before anything is compiled).
"""
import os
import sys

USAGE = __doc__


def parse_args(argv):
  """--gin_file=F (repeatable), --gin.KEY=VALUE (repeatable), --gin_search_path=DIR -> (files, bindings, paths)."""
  files, bindings, paths = [], [], []
  args = list(argv)
  while args:
    arg = args.pop(0)
    if arg in ("-h", "--help"):
      print(USAGE)
      sys.exit(0)
    name, has_value, value = arg.partition("=")
    if name in ("--gin_file", "--gin_search_path", "--gin_bindings") and not has_value:
      if not args:
        raise SystemExit(f"flan-train: {name} needs a value")
      value = args.pop(0)
    if name == "--gin_file":
      files.append(value)
    elif name == "--gin_search_path":
      paths.append(value)
    elif name == "--gin_bindings":
      bindings.append(value)
    elif name.startswith("--gin."):
      if not has_value:
        raise SystemExit(f"flan-train: {arg!r} needs the form --gin.KEY=VALUE")
      bindings.append(f"{name[len('--gin.'):]}={value}")
    else:
      raise SystemExit(f"flan-train: unknown argument {arg!r}\n{USAGE}")
  return files, bindings, paths


def default_search_paths():
  repository_gin = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin")
  return [os.getcwd()] + ([repository_gin] if os.path.isdir(repository_gin) else [])


def run(gin_files, bindings, search_paths=()):
  """Library entry point: parse the configuration and train. Returns loop.train's result."""
  from flan import distributed  # pylint: disable=import-outside-toplevel
  distributed.initialize()
  # pylint: disable=import-outside-toplevel,unused-import
  import flan.models.config  # registers get_config
  from flan.trainer import config_checks, loop, optimizer, schedules  # register configurables
  config_checks.parse_gin(gin_files, bindings, list(search_paths) + default_search_paths())
  try:
    return loop.train()
  except ValueError as error:
    # gin evaluates @get_config() (size and overrides) as train() is called, before anything compiles
    if "In call to configurable 'get_config'" in str(error) and not isinstance(error, config_checks.ConfigError):
      raise config_checks.ConfigError(str(error)) from error
    raise


def main(argv=None):
  files, bindings, paths = parse_args(sys.argv[1:] if argv is None else argv)
  if not files and not bindings:
    raise SystemExit(f"flan-train: no configuration given\n{USAGE}")
  from flan.trainer import config_checks, metrics  # pylint: disable=import-outside-toplevel
  try:
    result = run(files, bindings, paths)
  except config_checks.ConfigError as error:
    print(f"flan-train: configuration error: {error}", file=sys.stderr)
    return 2
  except metrics.NonFiniteLossError as error:
    print(f"flan-train: {error}", file=sys.stderr)
    return 1
  status = "preempted (SIGTERM), checkpoint saved" if result["preempted"] else "done"
  print(f"flan-train: {status} at step {result['step']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
