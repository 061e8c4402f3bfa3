"""JSON Lines files: one JSON object per line; blank lines are skipped. Needs no TensorFlow.

Reading names the file and line of anything wrong (malformed JSON, not an object, not UTF-8). Writing is
atomic (a temporary file in the same directory, renamed over the target when complete), and never writes
NaN or Infinity, which are not JSON.
"""
import errno
import json
import math
import os
import pathlib
import tempfile
from typing import Any, Iterable, Iterator, Mapping

from flan.errors import EnvironmentProblem, InputError, describe_os_error


class JsonlError(InputError):
  """A line that is not a JSON object (or not UTF-8); the message starts with `path:line:`."""


def _decode(raw: bytes, path, line_number: int) -> str:
  try:
    return raw.decode("utf-8-sig" if line_number == 1 else "utf-8")  # a byte-order mark may open the file
  except UnicodeDecodeError as e:
    raise JsonlError(f"{path}:{line_number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at byte {e.start + 1} "
                     "of the line); save the file as UTF-8") from e


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
  """Yields (line number from 1, object) for every non-blank line of `path`."""
  with open(path, "rb") as f:
    for line_number, raw in enumerate(f, start=1):
      line = _decode(raw, path, line_number)
      if not line.strip():
        continue
      try:
        row = json.loads(line.rstrip("\r\n"))
      except json.JSONDecodeError as e:
        raise JsonlError(f"{path}:{line_number}: malformed JSON line ({e.msg} at column {e.colno})") from e
      if not isinstance(row, dict):
        raise JsonlError(f"{path}:{line_number}: expected a JSON object, got {type(row).__name__}")
      yield line_number, row


def _os_problem(path, error: OSError):
  text = f"{path}: cannot write here ({describe_os_error(error)})"
  if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
    return InputError(text)
  return EnvironmentProblem(text)


def check_writable(path: str | os.PathLike) -> None:
  """Fails now, before any work, when `path` cannot be written: a directory (InputError), or a directory
  that cannot be created or written in (InputError for a wrong path, EnvironmentProblem for permissions,
  read-only or full file systems). Creates the parent directory."""
  path = pathlib.Path(path)
  if path.is_dir():
    raise InputError(f"{path}: is a directory; give the path of the file to write")
  existing = next(p for p in path.absolute().parents if p.exists())
  if not existing.is_dir():
    raise InputError(f"{path}: {existing} is a file, not a directory (Not a directory)")
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
      pass
  except OSError as error:
    raise _os_problem(path, error) from error


def _line(row: Mapping[str, Any], path, index: int) -> str:
  try:
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"
  except ValueError as e:
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    raise ValueError(f"{path}: row {index + 1} has a value that is not JSON ({e}; fields {bad}); "
                     "nothing was written") from e


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> None:
  """Writes one object per line (UTF-8, non-ASCII kept), creating the parent directory. The file appears
  complete or not at all (an existing file is replaced only when the new one is written)."""
  path = pathlib.Path(path)
  check_writable(path)
  handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(handle, "w", encoding="utf-8") as f:
      for index, row in enumerate(rows):
        f.write(_line(row, path, index))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; the output gets the usual permissions
    os.replace(temporary, path)
  except OSError as error:
    raise _os_problem(path, error) from error
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)
