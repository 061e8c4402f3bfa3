"""A minimal TensorBoard event-file writer for scalars (no TensorFlow or tensorboardX needed).

Event files are TFRecord files of `tensorflow.Event` protocol buffers; scalars use the `simple_value`
field of `Summary.Value`. Field numbers from tensorflow/core/util/event.proto and
tensorflow/core/framework/summary.proto; record framing (length, masked CRC-32C) from TFRecord's format.
"""
import os
import socket
import struct
import time


def _crc32c_table():
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
  return _varint((number << 3) | wire_type) + payload


def _length_delimited(number: int, payload: bytes) -> bytes:
  return _field(number, 2, _varint(len(payload)) + payload)


def _event(wall_time: float, step: int, *, file_version=None, scalars=None) -> bytes:
  message = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step))
  if file_version is not None:
    message += _length_delimited(3, file_version.encode())
  if scalars:
    values = b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode()) + _field(2, 5, struct.pack("<f", value)))
        for tag, value in scalars.items())
    message += _length_delimited(5, values)
  return message


class EventFileWriter:
  """Appends scalar summaries to <logdir>/events.out.tfevents.<time>.<host>."""

  def __init__(self, logdir):
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "ab")  # pylint: disable=consider-using-with
    self._write(_event(time.time(), 0, file_version="brain.Event:2"))

  def _write(self, record: bytes):
    header = struct.pack("<Q", len(record))
    self._file.write(header + struct.pack("<I", _masked_crc(header)) + record
                     + struct.pack("<I", _masked_crc(record)))

  def scalars(self, step: int, values: dict):
    self._write(_event(time.time(), int(step), scalars={k: float(v) for k, v in values.items()}))

  def flush(self):
    self._file.flush()

  def close(self):
    self._file.close()
