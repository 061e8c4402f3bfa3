"""Small TensorFlow helpers for field maps of TFDS datasets (raw example -> template fields)."""
from typing import Sequence

import tensorflow as tf


def choose(names: Sequence[str], index: tf.Tensor) -> tf.Tensor:
  """names[index] for a class-label index."""
  return tf.gather(tf.constant(list(names)), tf.cast(index, tf.int32))


def options_and_answer(names: Sequence[str], index: tf.Tensor) -> dict[str, tf.Tensor]:
  return {"options": tf.constant(list(names)), "answer": choose(names, index)}


def choice_fields(options: tf.Tensor, index: tf.Tensor) -> dict[str, tf.Tensor]:
  """Options given by the data (a 1-D string tensor) and the answer at `index`.

  An index outside the options gives an empty answer, and examples with empty answers are dropped
  (flan.data.registration.canonical_dataset).
  """
  index = tf.cast(index, tf.int32)
  padded = tf.concat([options, tf.constant([""])], axis=0)
  valid = tf.logical_and(index >= 0, index < tf.size(options))
  return {"options": options, "answer": tf.where(valid, tf.gather(padded, tf.where(valid, index, 0)), "")}


def first(texts: tf.Tensor, default: str = "") -> tf.Tensor:
  """First string of a 1-D tensor, or `default` when it is empty."""
  padded = tf.concat([texts, tf.constant([default])], axis=0)
  return padded[0]


def join(*parts) -> tf.Tensor:
  """Concatenates string tensors and Python strings (the data is never formatted, only joined)."""
  return tf.strings.join([tf.constant(p) if isinstance(p, str) else p for p in parts])


def has_label(key: str = "label"):
  """Filter: drops unlabelled examples (label -1, e.g. GLUE test rows)."""
  return lambda ex: ex[key] >= 0
