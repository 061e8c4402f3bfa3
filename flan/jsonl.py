"""JSON Lines files: one JSON object per line; blank lines are skipped. Needs no TensorFlow."""
import json
import os
import pathlib
from typing import Any, Iterable, Iterator, Mapping


class JsonlError(ValueError):
  """A line that is not a JSON object; the message starts with `path:line:`."""


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
  """Yields (line number from 1, object) for every non-blank line of `path`."""
  with open(path, encoding="utf-8") as f:
    for line_number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        row = json.loads(line.rstrip("\r\n"))
      except json.JSONDecodeError as e:
        raise JsonlError(f"{path}:{line_number}: malformed JSON line ({e.msg} at column {e.colno})") from e
      if not isinstance(row, dict):
        raise JsonlError(f"{path}:{line_number}: expected a JSON object, got {type(row).__name__}")
      yield line_number, row


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> None:
  """Writes one object per line (UTF-8, non-ASCII kept), creating the parent directory."""
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    for row in rows:
      f.write(json.dumps(row, ensure_ascii=False) + "\n")
