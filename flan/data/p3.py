"""P3 (bigscience/P3) prompts as seqio sources and tasks, read from the files P3 publishes.

P3 stores every prompt as TFRecord files, <P3 dir>/data/<prompt>/{train,validation}.tfrecord-*-of-*,
whose examples carry inputs_pretokenized / targets_pretokenized text (the prompt already applied) and,
for multiple-choice prompts, answer_choices. The P3 directory (a local folder or gs://...) comes from,
first match wins: gin `flan.data.p3.p3_data_dir.path`, the FLAN_P3_DIR variable. It is looked up when
a task is first read, not at registration, so registering the T0-SF mixture needs no data.

`to_fields` maps a P3 example to the "prompted" template family: the prompt, the answer, and the answer
choices as options when the prompt does not already list them (T0's "separated options" prompts), so
the with-options variants append them as the Flan Collection does. Train split sizes come from the
recorded table (flan.data.p3_prompts), so mixing rates are right before the download.
"""
import os
import threading
from typing import Mapping, Sequence

import gin
import numpy as np
import seqio
import tensorflow as tf

from flan import errors

SPLITS = ("train", "validation")
FEATURES = {
    "inputs_pretokenized": tf.io.FixedLenFeature([], tf.string),
    "targets_pretokenized": tf.io.FixedLenFeature([], tf.string),
    "answer_choices": tf.io.VarLenFeature(tf.string),
}


@gin.configurable
def p3_data_dir(path: str | None = None) -> str:
  """The P3 directory (holding data/<prompt>/): gin binding, else FLAN_P3_DIR."""
  path = path or os.environ.get("FLAN_P3_DIR")
  if not path:
    raise errors.ConfigError("the P3 data directory is not set: bind flan.data.p3.p3_data_dir.path in gin or set "
                             "FLAN_P3_DIR to the folder holding P3's data/<prompt>/ directories")
  return path


def file_pattern(prompt: str, split: str, data_dir: str | None = None) -> str:
  return os.path.join(data_dir or p3_data_dir(), "data", prompt, f"{split}.tfrecord-*-of-*")


class P3Source(seqio.DataSource):
  """One P3 prompt's TFRecord files, found when first read (seqio.TFExampleDataSource underneath)."""

  def __init__(self, prompt: str, num_input_examples: Mapping[str, int] | None = None,
               data_dir: str | None = None):
    super().__init__(splits=SPLITS, num_input_examples=num_input_examples)
    self.prompt = prompt
    self._data_dir = data_dir
    self._source = None
    self._lock = threading.Lock()

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return False

  def num_input_examples(self, split: str) -> int | None:
    """The recorded size of the split, or None when none is recorded."""
    return (self._num_input_examples or {}).get(split)

  def _files(self) -> seqio.TFExampleDataSource:
    with self._lock:
      if self._source is None:
        patterns = {split: file_pattern(self.prompt, split, self._data_dir) for split in SPLITS}
        if not tf.io.gfile.glob(patterns["train"]):
          raise errors.InputError(f"P3 prompt {self.prompt!r}: no files match {patterns['train']} (download P3's "
                                  f"data/{self.prompt}/ or fix flan.data.p3.p3_data_dir / FLAN_P3_DIR)")
        self._source = seqio.TFExampleDataSource(patterns, FEATURES)
      return self._source

  def list_shards(self, split: str) -> Sequence[str]:
    return self._files().list_shards(split)

  def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None,
                  shard_info: seqio.ShardInfo | None = None, *, sequence_length=None, use_cached=False,
                  num_epochs=1) -> tf.data.Dataset:
    dataset = self._files().get_dataset(split, shuffle=shuffle, seed=seed, shard_info=shard_info,
                                        sequence_length=sequence_length, use_cached=use_cached,
                                        num_epochs=num_epochs)
    return dataset.map(_dense_choices)


def _dense_choices(example):
  choices = example["answer_choices"]
  if isinstance(choices, tf.SparseTensor):
    choices = tf.sparse.to_dense(choices, default_value="")
  return {**example, "answer_choices": choices}


def separate_options(inputs: str, choices: Sequence[str]) -> list[str]:
  """The answer choices to offer as options: none when the prompt already writes every one of them."""
  choices = [c.strip() for c in choices if c.strip()]
  if not choices or all(choice in inputs for choice in choices):
    return []
  return choices


def _options_numpy(inputs, choices):
  text = lambda value: value.decode("utf-8") if isinstance(value, bytes) else str(value)
  kept = separate_options(text(inputs), [text(c) for c in choices])
  return np.array([c.encode("utf-8") for c in kept], dtype=object).reshape([len(kept)])


@tf.autograph.experimental.do_not_convert
def to_fields(example):
  """P3 features -> the "prompted" family's fields: prompt, answer and (separated) options."""
  options = tf.numpy_function(_options_numpy, [example["inputs_pretokenized"], example["answer_choices"]],
                              tf.string, stateful=False)
  options.set_shape([None])
  return {"prompt": tf.strings.strip(example["inputs_pretokenized"]),
          "answer": tf.strings.strip(example["targets_pretokenized"]), "options": options}
