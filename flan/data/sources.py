"""Raw example sources: TFDS datasets, and JSONL / TSV / CSV files read with clear errors.

File sources read their rows lazily (on first use, not at registration) and keep them in memory.
Every row is a dict of strings; a list value (JSONL) is kept as a list of strings.
"""
import csv
import os
import threading
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf

from flan import jsonl
from flan.errors import InputError

OPTION_SEPARATOR = "\x1f"  # joins answer options into one string tensor; never appears in text


class DataFileError(InputError):
  """A data file that cannot be read as promised; the message names the file and line."""


def tfds_source(name: str, splits: Sequence[str] | Mapping[str, str] | None = None,
                data_dir: str | None = None) -> seqio.TfdsDataSource:
  """TFDS source; `name` must carry a version, e.g. "glue/cola:2.0.0"."""
  if ":" not in name:
    raise ValueError(f"TFDS name {name!r} needs a version, e.g. {name}:1.0.0")
  return seqio.TfdsDataSource(tfds_name=name, splits=splits, tfds_data_dir=data_dir)


def _require_file(path: str) -> None:
  if not os.path.isfile(path):
    raise InputError(f"data file {path!r} does not exist")


def _open_text(path: str):
  _require_file(path)
  return open(path, encoding="utf-8", newline="")


def read_jsonl(path: str) -> list[dict]:
  _require_file(path)
  try:
    return [{**row, "__line__": line_number} for line_number, row in jsonl.read_jsonl(path)]
  except jsonl.JsonlError as e:
    raise DataFileError(str(e)) from e


def read_delimited(path: str, delimiter: str, columns: Sequence[str] | None = None,
                   quoting: int = csv.QUOTE_MINIMAL) -> list[dict]:
  """CSV/TSV rows; the first line is the header unless `columns` names the columns."""
  rows = []
  with _open_text(path) as f:
    reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
    header = list(columns) if columns else None
    for values in reader:
      line_number = reader.line_num
      if header is None:
        header = values
        continue
      if not values or values == [""]:
        continue
      if len(values) != len(header):
        raise DataFileError(f"{path}:{line_number}: expected {len(header)} columns ({', '.join(header)}), "
                            f"got {len(values)}")
      row = dict(zip(header, values))
      row["__line__"] = line_number
      rows.append(row)
  return rows


def read_rows(path: str, file_format: str | None = None, columns: Sequence[str] | None = None) -> list[dict]:
  """Rows of a .jsonl, .tsv or .csv file (format from the extension unless given)."""
  file_format = (file_format or os.path.splitext(path)[1].lstrip(".")).lower()
  if file_format in ("jsonl", "json"):
    return read_jsonl(path)
  if file_format == "tsv":
    return read_delimited(path, "\t", columns, quoting=csv.QUOTE_NONE)
  if file_format == "csv":
    return read_delimited(path, ",", columns)
  raise ValueError(f"{path}: unknown data file format {file_format!r}; use jsonl, tsv or csv")


class InMemorySource(seqio.DataSource):
  """A seqio source over rows produced by a Python function, loaded on first use.

  rows_fn(split) -> list of dicts mapping field names to strings (or lists of strings, which are
  joined with OPTION_SEPARATOR). All rows of a split must have the same fields.
  """

  def __init__(self, name: str, rows_fn: Callable[[str], Sequence[Mapping]], splits: Sequence[str]):
    # The source shuffles the whole split itself, so tasks need no extra shuffle buffer (whose fill
    # would render and tokenize 1,000 examples per task before a mixture yields anything).
    super().__init__(splits=splits, performs_internal_shuffling=True)
    self._name = name
    self._rows_fn = rows_fn
    self._columns = {}
    self._lock = threading.Lock()

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return True

  def list_shards(self, split: str) -> Sequence[str]:
    return [f"{self._name}/{split}"]

  def columns(self, split: str) -> dict[str, list[str]]:
    with self._lock:
      if split not in self._columns:
        if split not in self.splits:
          raise ValueError(f"source {self._name!r} has no split {split!r}; it has {list(self.splits)}")
        self._columns[split] = _to_columns(self._name, self._rows_fn(split))
      return self._columns[split]

  def num_input_examples(self, split: str) -> int:
    columns = self.columns(split)
    return len(next(iter(columns.values()))) if columns else 0

  def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None,
                  shard_info: seqio.ShardInfo | None = None, *, sequence_length=None, use_cached=False,
                  num_epochs=1) -> tf.data.Dataset:
    del sequence_length, use_cached, num_epochs
    columns = self.columns(split)
    tensors = {k: tf.constant(v, tf.string) for k, v in columns.items()}
    # Shuffle row indices rather than rows: filling the buffer is cheap even for large splits.
    dataset = tf.data.Dataset.range(self.num_input_examples(split))
    if shard_info and shard_info.num_shards > 1:
      dataset = dataset.shard(shard_info.num_shards, shard_info.index)
    if shuffle:
      dataset = dataset.shuffle(max(1, self.num_input_examples(split)), seed=seed, reshuffle_each_iteration=True)
    return dataset.map(lambda i: {k: v[i] for k, v in tensors.items()})


def _to_columns(name: str, rows: Sequence[Mapping]) -> dict[str, list[str]]:
  if not rows:
    raise ValueError(f"source {name!r} has no examples")
  keys = [k for k in rows[0] if not k.startswith("__")]
  columns = {k: [] for k in keys}
  for row in rows:
    for key in keys:
      if key not in row:
        raise ValueError(f"source {name!r}: field {key!r} missing in row {row.get('__line__', '?')}")
      value = row[key]
      columns[key].append(OPTION_SEPARATOR.join(map(str, value)) if isinstance(value, (list, tuple))
                          else str(value))
  return columns
