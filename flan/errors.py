"""The errors a user can fix, and how every flan command reports them.

An error the user can fix (input file, configuration, file system) is one or two lines on stderr naming the
file / line / key and what to do, with exit status 2 (configuration, input) or 1 (environment: disk full,
permission). A traceback is printed only for bugs, or for every error when FLAN_DEBUG=1 (or --debug).
TensorFlow-free: the model, partitioning and trainer layers raise these too.
"""
import errno
import os
import sys
import traceback

EXIT_ENVIRONMENT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
  """An error the user can fix; `exit_code` is 2 (input, configuration) or 1 (environment)."""
  exit_code = EXIT_USAGE


class ConfigError(UserError, ValueError):
  """A configuration value (gin binding, flag) is wrong; the message names the key."""


class InputError(UserError, ValueError):
  """An input file is malformed; the message names the file (and line, field)."""


class EnvironmentProblem(UserError, OSError):
  """The file system or machine refuses (disk full, permission, read-only); exit 1."""
  exit_code = EXIT_ENVIRONMENT


def message(error: BaseException) -> str:
  """The error's text without the lines gin appends ("In call to configurable ...")."""
  lines = [line for line in str(error).splitlines() if not line.strip().startswith("In call to configurable")]
  return "\n".join(lines).strip()


def debug_enabled(argv=()) -> bool:
  return os.environ.get("FLAN_DEBUG", "") not in ("", "0") or "--debug" in argv


def describe_os_error(error: OSError) -> str:
  """'PATH: what went wrong' for an OSError, with the usual remedy for the common cases."""
  path = error.filename if error.filename is not None else ""
  reason = error.strerror or str(error)
  hints = {errno.ENOSPC: "free some space or choose another directory",
           errno.EACCES: "check the permissions", errno.EROFS: "the file system is read-only",
           errno.EISDIR: "expected a file", errno.ENOTDIR: "expected a directory",
           errno.ENOENT: "check the path"}
  hint = hints.get(error.errno)
  text = f"{path}: {reason}" if path else reason
  return f"{text} ({hint})" if hint else text


def _os_error_exit_code(error: OSError) -> int:
  # A path the user gave that does not exist or has the wrong kind is an input error; the rest is the machine.
  # (By class too: many loaders raise FileNotFoundError("message") without an errno.)
  wrong_path = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
  if isinstance(error, wrong_path) or error.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR):
    return EXIT_USAGE
  return EXIT_ENVIRONMENT


def run_command(prog: str, function, argv=None) -> int:
  """Calls function(argv) and turns the errors a user can fix into one line on stderr and an exit status.

  Returns function's int result (or 0). UserError -> its exit_code; OSError -> 1 (2 for a missing path);
  KeyboardInterrupt -> 130. Anything else is a bug and keeps its traceback.
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  debug = debug_enabled(argv)
  if "--debug" in argv:
    argv.remove("--debug")
  try:
    status = function(argv)
  except UserError as error:
    if debug:
      traceback.print_exc()
    print(f"{prog}: error: {message(error)}", file=sys.stderr)
    return error.exit_code
  except OSError as error:
    if debug:
      traceback.print_exc()
    print(f"{prog}: error: {describe_os_error(error)}", file=sys.stderr)
    return _os_error_exit_code(error)
  except KeyboardInterrupt:
    if debug:
      traceback.print_exc()
    print(f"{prog}: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED
  return 0 if status is None else int(status)
