"""flan-train: `flan-train --gin_file=runs/finetune.gin --gin_file=flan_t5/small.gin --gin.KEY=VALUE ...`
(also `python -m flan.train`). Parses gin (flan.gin_args: files are looked up as given, then under the
repository's gin/ folder), joins the other hosts when there are any, builds the run configuration
(gin's `train.*` bindings, flan.trainer.run_config) and trains it.

Exit status: 0 when done or preempted (SIGTERM: checkpoint saved), 130 after Ctrl-C (checkpoint saved; a
second Ctrl-C aborts at once), 1 on a non-finite loss or an environment
error (disk full, permission), 2 on a configuration or input error (one line naming the key or file, before
anything is compiled). FLAN_DEBUG=1 or --debug shows tracebacks.
"""
import sys

from flan import errors
from flan import gin_args
from flan import host_memory

USAGE = __doc__


def run(gin_files, bindings, search_paths=()):
  """Library entry point: parse the configuration and train. Returns flan.trainer.loop.train's result."""
  from flan import distributed  # pylint: disable=import-outside-toplevel
  distributed.initialize()
  # pylint: disable=import-outside-toplevel,unused-import
  import flan.models.config  # registers get_config
  from flan.trainer import loop, optimizer, schedules  # register the train / optimizer / schedule bindings
  gin_args.parse_gin(gin_files, bindings, list(search_paths) + gin_args.default_search_paths())
  try:
    return loop.train()
  except ValueError as error:
    # gin evaluates @get_config() (size and overrides) as the run configuration is built, before compiling
    if "In call to configurable" in str(error) and not isinstance(error, errors.UserError):
      raise errors.ConfigError(str(error).strip().splitlines()[0]) from error
    raise
  except RuntimeError as error:
    if "Required bindings" in str(error):  # gin: a gin.REQUIRED setting was not bound
      raise errors.ConfigError(str(error)) from error
    raise


def _main(argv):
  if any(arg in ("-h", "--help") for arg in argv):
    print(USAGE)
    return 0
  files, bindings, paths, rest = gin_args.split_gin_args(argv)
  if rest:
    raise errors.ConfigError(f"unknown argument {rest[0]!r} (see flan-train --help)")
  if not files and not bindings:
    raise errors.ConfigError("no configuration given (see flan-train --help)")
  from flan.trainer import metrics  # pylint: disable=import-outside-toplevel
  try:
    result = run(files, bindings, paths)
  except metrics.NonFiniteLossError as error:
    print(f"flan-train: {error}", file=sys.stderr)
    return 1
  if result.get("stop_signal") == "SIGINT":
    print(f"flan-train: interrupted (Ctrl-C), checkpoint saved at step {result['step']}; run the same command "
          "to continue", file=sys.stderr)
    return result["exit_status"]
  status = "preempted (SIGTERM), checkpoint saved" if result["preempted"] else "done"
  print(f"flan-train: {status} at step {result['step']}")
  return 0


def main(argv=None):
  if argv is None:
    host_memory.restart_with_huge_pages("flan.train", sys.argv[1:])
  return errors.run_command("flan-train", _main, argv)


if __name__ == "__main__":
  sys.exit(main())
