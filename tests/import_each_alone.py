"""Imports each module named on the command line with no other flan module loaded before it: one forked child
per module, from a parent that has imported only the third-party packages those modules use (importing them
again per module is what made a fresh interpreter each too slow for the suite). Prints one JSON line:
{module: error text} for every module that failed to import."""
import importlib
import json
import os
import sys
import tempfile
import traceback


def import_in_child(module):
  """The error text of importing `module` in a forked child, or "" when it imports."""
  with tempfile.TemporaryFile(mode="w+") as report:
    pid = os.fork()
    if pid == 0:
      code = 0
      try:
        importlib.import_module(module)
      except BaseException:  # pylint: disable=broad-except
        report.write(traceback.format_exc()[-2000:])
        report.flush()
        code = 1
      os._exit(code)  # pylint: disable=protected-access
    _, status = os.waitpid(pid, 0)
    report.seek(0)
    error = report.read()
  if os.waitstatus_to_exitcode(status) != 0 and not error:
    error = f"child ended with status {os.waitstatus_to_exitcode(status)}"
  return error


def main(argv):
  preload, modules = argv[0].split(","), argv[1:]
  for package in preload:
    importlib.import_module(package)
  loaded = sorted(name for name in sys.modules if name == "flan" or name.startswith("flan."))
  if loaded:
    raise SystemExit(f"preloading third-party packages loaded flan modules: {loaded}")
  failures = {}
  for module in modules:
    error = import_in_child(module)
    if error:
      failures[module] = error
  print(json.dumps(failures))


if __name__ == "__main__":
  main(sys.argv[1:])
