"""Reading and writing safetensors checkpoints, single-file or sharded with a `*.safetensors.index.json`."""
import json
import os
import pathlib
from typing import Mapping

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from flan.errors import EnvironmentProblem, InputError

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# Metadata transformers requires on safetensors files it loads.
FILE_METADATA = {"format": "pt"}


class SafetensorsReader:
  """Name -> tensor access over the safetensors file(s) of one directory, opened lazily."""

  def __init__(self, directory: os.PathLike | str):
    self.directory = pathlib.Path(directory)
    self._handles = {}
    self._file_of = self._locate_tensors()

  def _locate_tensors(self) -> dict[str, pathlib.Path]:
    index_path = self.directory / INDEX_FILE
    if not index_path.exists():
      indexes = sorted(self.directory.glob("*.safetensors.index.json"))
      index_path = indexes[0] if len(indexes) == 1 else index_path
    if index_path.exists():
      try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
      except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{index_path}: not a safetensors index with a 'weight_map' ({e})") from e
      files = {}
      for name, file_name in weight_map.items():
        path = self.directory / file_name
        if not path.exists():
          raise FileNotFoundError(f"{index_path}: tensor {name!r} is mapped to {file_name}, which is missing")
        files[name] = path
      return files
    candidates = [self.directory / SINGLE_FILE] if (self.directory / SINGLE_FILE).exists() else sorted(
        self.directory.glob("*.safetensors"))
    if not candidates:
      raise FileNotFoundError(f"{self.directory}: no {SINGLE_FILE}, *.safetensors file or {INDEX_FILE}")
    files = {}
    for path in candidates:
      for name in self._open(path).keys():
        files[name] = path
    return files

  def _open(self, path: pathlib.Path):
    if path not in self._handles:
      try:
        self._handles[path] = safe_open(str(path), framework="numpy")
      except Exception as e:  # the library raises its own error types for corrupt headers
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    return self._handles[path]

  def names(self) -> list[str]:
    return sorted(self._file_of)

  def __contains__(self, name: str) -> bool:
    return name in self._file_of

  def file_of(self, name: str) -> pathlib.Path:
    return self._file_of[name]

  def get(self, name: str) -> np.ndarray:
    if name not in self._file_of:
      raise KeyError(f"{self.directory}: missing tensor {name!r}")
    return self._open(self._file_of[name]).get_tensor(name)

  def where(self) -> str:
    """The file(s) this reader serves, for error messages."""
    files = sorted({p.name for p in self._file_of.values()})
    return str(self.directory / files[0]) if len(files) == 1 else f"{self.directory} ({', '.join(files)})"


def _save(tensors: Mapping[str, np.ndarray], path: pathlib.Path) -> None:
  try:
    save_file(tensors, str(path), metadata=FILE_METADATA)
  except SafetensorError as error:  # the writer reports I/O failures (disk full, ...) as its own error type
    raise EnvironmentProblem(f"{path}: could not be written ({error})") from error


def write_safetensors(tensors: Mapping[str, np.ndarray], directory: os.PathLike | str,
                      max_shard_bytes: int = 5 * 1024**3) -> list[pathlib.Path]:
  """Writes `model.safetensors`, or shards plus `model.safetensors.index.json` above `max_shard_bytes`, into a
  directory holding no safetensors files yet (InputError otherwise)."""
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  existing = sorted(p.name for p in directory.glob("*.safetensors*"))
  if existing:  # new files beside an older export would make one inconsistent set (an index wins on load)
    raise InputError(f"{directory}: already holds weight files ({', '.join(existing[:3])}"
                     f"{', ...' if len(existing) > 3 else ''}); write the export into a new or empty directory")
  shards, current, current_bytes = [], {}, 0
  for name, array in tensors.items():
    array = np.ascontiguousarray(array)
    if current and current_bytes + array.nbytes > max_shard_bytes:
      shards.append(current)
      current, current_bytes = {}, 0
    current[name] = array
    current_bytes += array.nbytes
  shards.append(current)
  if len(shards) == 1:
    path = directory / SINGLE_FILE
    _save(shards[0], path)
    return [path]
  paths, weight_map = [], {}
  for number, shard in enumerate(shards, start=1):
    path = directory / f"model-{number:05d}-of-{len(shards):05d}.safetensors"
    _save(shard, path)
    paths.append(path)
    weight_map.update({name: path.name for name in shard})
  total = sum(a.nbytes for shard in shards for a in shard.values())
  (directory / INDEX_FILE).write_text(
      json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
  return paths
