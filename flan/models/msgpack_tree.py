"""Decoding of flax's msgpack state files (T5X `checkpoint` files) into dicts of numpy arrays, without flax.

flax stores an array as msgpack ext type 1 whose payload is itself msgpack: [shape, dtype name, raw C-order
bytes]; ext type 3 is a numpy scalar in the same encoding, ext type 2 a Python complex [real, imag]. Arrays
over 1 GiB are split into {"__msgpack_chunked_array__": True, "shape": {"0": d0, ...}, "chunks": {"0": flat
part, ...}}. Nothing here unpickles.
"""
import os
import pathlib
from typing import Any

import msgpack
import numpy as np

EXT_NDARRAY = 1
EXT_COMPLEX = 2
EXT_NPSCALAR = 3
CHUNKED_MARKER = "__msgpack_chunked_array__"


class _EncodedArray:
  """An ext payload kept undecoded until its path in the tree is known (for error messages)."""

  def __init__(self, payload: bytes, scalar: bool):
    self.payload = payload
    self.scalar = scalar


def _ext_hook(code: int, data: bytes):
  if code in (EXT_NDARRAY, EXT_NPSCALAR):
    return _EncodedArray(data, scalar=code == EXT_NPSCALAR)
  if code == EXT_COMPLEX:
    real, imag = msgpack.unpackb(data)
    return complex(real, imag)
  return msgpack.ExtType(code, data)


def numpy_dtype(name: str) -> np.dtype:
  if name == "bfloat16":
    import ml_dtypes  # pylint: disable=import-outside-toplevel
    return np.dtype(ml_dtypes.bfloat16)
  return np.dtype(name)


def _decode_array(encoded: _EncodedArray, where: str):
  try:
    shape, dtype_name, buffer = msgpack.unpackb(encoded.payload, raw=True)
    if isinstance(dtype_name, bytes):
      dtype_name = dtype_name.decode("ascii")
    dtype = numpy_dtype(dtype_name)
  except (ValueError, TypeError, msgpack.UnpackException) as e:
    raise ValueError(f"{where}: malformed array payload ({e})") from e
  expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  if len(buffer) != expected:
    raise ValueError(f"{where}: {len(buffer)} bytes of data for shape {tuple(shape)} {dtype_name} "
                     f"(expected {expected})")
  array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
  return array[()] if encoded.scalar else array


def _unchunk(node: dict, where: str) -> np.ndarray:
  shape = tuple(node["shape"][str(i)] for i in range(len(node["shape"])))
  parts = [_materialize(node["chunks"][str(i)], f"{where}/chunks/{i}") for i in range(len(node["chunks"]))]
  flat = np.concatenate([np.asarray(p).reshape(-1) for p in parts])
  if flat.size != int(np.prod(shape, dtype=np.int64)):
    raise ValueError(f"{where}: chunked array has {flat.size} elements for shape {shape}")
  return flat.reshape(shape)


def _materialize(node: Any, where: str) -> Any:
  if isinstance(node, _EncodedArray):
    return _decode_array(node, where)
  if isinstance(node, dict):
    if node.get(CHUNKED_MARKER):
      return _unchunk(node, where)
    return {str(k): _materialize(v, f"{where}/{k}") for k, v in node.items()}
  if isinstance(node, list):
    return [_materialize(v, f"{where}/{i}") for i, v in enumerate(node)]
  return node


def read_msgpack_tree(path: os.PathLike | str) -> dict[str, Any]:
  """The nested dict stored in a flax msgpack file, arrays as (read-only) numpy arrays."""
  path = pathlib.Path(path)
  try:
    tree = msgpack.unpackb(path.read_bytes(), ext_hook=_ext_hook, raw=False, strict_map_key=False)
  except (ValueError, msgpack.UnpackException) as e:
    raise ValueError(f"{path}: not a msgpack checkpoint file ({e})") from e
  if not isinstance(tree, dict):
    raise ValueError(f"{path}: expected a msgpack map at the top level, found {type(tree).__name__}")
  return _materialize(tree, str(path))
