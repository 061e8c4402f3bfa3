"""Reads the zarr (v2) arrays that T5X writes through tensorstore, with numpy and gzip/zlib only.

A T5X `checkpoint` file holds, in place of each array, a tensorstore spec such as
  {"driver": "zarr", "dtype": "float32", "kvstore": {"driver": "file", "path": "target.encoder.x.kernel/"},
   "metadata": {"shape": [10, 5], "chunks": [10, 5], "compressor": {"id": "gzip", "level": 1}}}
whose path is relative to the checkpoint directory. The array directory may hold a `.zarray` metadata file
(authoritative when present) and one file per chunk, named by chunk indices joined with "." (`0.0`; `0` for
a scalar). Every chunk file holds a full chunk (edge chunks are padded), compressed, in `order` layout;
absent chunks are `fill_value`.
"""
import gzip
import itertools
import json
import os
import pathlib
import zlib
from typing import Any, Mapping

import numpy as np

from flan.models.msgpack_tree import numpy_dtype

# tensorstore dtype names -> numpy (zarr .zarray files use numpy typestr such as "<f4" instead).
_TENSORSTORE_DTYPES = {"bfloat16", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
                       "uint8", "uint16", "uint32", "uint64", "bool"}


def is_tensorstore_spec(node: Any) -> bool:
  return isinstance(node, Mapping) and "driver" in node and ("kvstore" in node or "path" in node)


def array_directory(spec: Mapping[str, Any], checkpoint_dir: pathlib.Path) -> pathlib.Path:
  """The directory of the spec's array: its relative path under checkpoint_dir (or an existing absolute one)."""
  kvstore = spec.get("kvstore")
  path = kvstore.get("path") if isinstance(kvstore, Mapping) else spec.get("path")
  if not path:
    raise ValueError(f"tensorstore spec without a path: {dict(spec)}")
  path = str(path)
  if "://" in path:  # e.g. gs://bucket/.../checkpoint_N/target.x/ recorded at save time
    path = path.rstrip("/").rsplit("/", 1)[-1]
  candidate = pathlib.Path(path)
  if candidate.is_absolute():
    return candidate if candidate.exists() else checkpoint_dir / candidate.name
  return checkpoint_dir / candidate


def _dtype(metadata: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> np.dtype:
  name = metadata.get("dtype", spec.get("dtype"))
  if name is None:
    raise ValueError(f"{where}: no dtype in the tensorstore spec or .zarray")
  if isinstance(name, list):
    raise ValueError(f"{where}: structured zarr dtype {name!r} is not supported")
  if name in _TENSORSTORE_DTYPES:
    return numpy_dtype(name)
  try:
    return np.dtype(name)
  except TypeError as e:
    raise ValueError(f"{where}: unknown zarr dtype {name!r}") from e


def _decompress(data: bytes, compressor: Mapping[str, Any] | None, chunk_path: pathlib.Path) -> bytes:
  if compressor is None:
    return data
  kind = compressor.get("id")
  try:
    if kind == "gzip":
      return gzip.decompress(data)
    if kind == "zlib":
      return zlib.decompress(data)
  except (OSError, zlib.error, EOFError) as e:
    raise ValueError(f"{chunk_path}: corrupt {kind} data ({e})") from e
  raise ValueError(f"{chunk_path}: unsupported zarr compressor {kind!r} (supported: gzip, zlib, none)")


def _fill_value(value: Any, dtype: np.dtype):
  if value is None:
    return 0
  if isinstance(value, str):  # zarr spells non-finite floats as strings
    return {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}.get(value, 0)
  return value


def read_zarr_array(spec: Mapping[str, Any], checkpoint_dir: os.PathLike | str) -> np.ndarray:
  """Reads the whole array named by a T5X tensorstore spec."""
  directory = array_directory(spec, pathlib.Path(checkpoint_dir))
  if spec.get("driver") != "zarr":
    raise ValueError(f"{directory}: unsupported tensorstore driver {spec.get('driver')!r} (only zarr)")
  if not directory.is_dir():
    raise FileNotFoundError(f"{directory}: array directory named by the checkpoint is missing")
  metadata = dict(spec.get("metadata") or {})
  zarray = directory / ".zarray"
  if zarray.exists():
    metadata.update(json.loads(zarray.read_text()))
  where = str(directory)
  for key in ("shape", "chunks"):
    if key not in metadata:
      raise ValueError(f"{where}: zarr metadata lacks {key!r}")
  if metadata.get("filters"):
    raise ValueError(f"{where}: zarr filters {metadata['filters']!r} are not supported")
  dtype = _dtype(metadata, spec, where)
  shape = tuple(metadata["shape"])
  chunks = tuple(metadata["chunks"])
  order = metadata.get("order", "C")
  separator = metadata.get("dimension_separator", ".")
  compressor = metadata.get("compressor")
  out = np.full(shape, _fill_value(metadata.get("fill_value"), dtype), dtype=dtype)
  grid = [range(-(-size // chunk)) for size, chunk in zip(shape, chunks)]
  for index in itertools.product(*grid):
    chunk_path = directory / (separator.join(str(i) for i in index) if index else "0")
    if not chunk_path.exists():
      continue
    raw = _decompress(chunk_path.read_bytes(), compressor, chunk_path)
    count = int(np.prod(chunks, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
      raise ValueError(f"{chunk_path}: {len(raw)} bytes, expected {count * dtype.itemsize} for chunk "
                       f"{chunks} of {dtype}")
    block = np.frombuffer(raw, dtype=dtype).reshape(chunks, order=order)
    starts = [i * c for i, c in zip(index, chunks)]
    region = tuple(slice(s, min(s + c, size)) for s, c, size in zip(starts, chunks, shape))
    out[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
  return out
