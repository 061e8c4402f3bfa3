"""Super-Natural Instructions (NIv2) from TFDS `natural_instructions:1.0.1`, and the NIv2 mixture.

TFDS holds all 1,600+ NIv2 tasks in one dataset (fields definition, input, output, task_name), so it
is registered as one dataset, `niv2:{zs,fs}`. Before anything else, the tasks that hold held-out
evaluation data are dropped (flan.data.niv2_heldout: the 57 MMLU answer-generation tasks). Then the
Flan 2022 cap of 5,000 examples applies per NIv2 task inside the stream, keyed by the full task name
(numeric ids are not unique: 184, 672, 861, 868 and 1168 each name two tasks). Few-shot exemplars come
from the same NIv2 task: the exemplar pool keeps up to registration.EXEMPLARS_PER_GROUP train examples
of every task.
"""
import tensorflow as tf

from flan.data import niv2_heldout
from flan.data import rates
from flan.data import registration
from flan.data.sources import tfds_source

TFDS_NAME = "natural_instructions:1.0.1"
MIXTURE = "flan2022_niv2"
CAP = rates.CAPS["niv2"]


def cap_per_task(dataset: tf.data.Dataset, cap: int = CAP, field: str = "task_name") -> tf.data.Dataset:
  """Keeps the first `cap` examples of each task name (in stream order).

  The counts are scan state (the names seen so far and their counts), so every pass over the
  dataset, e.g. each epoch of a repeated dataset, starts from zero.
  """
  @tf.autograph.experimental.do_not_convert
  def count(state, example):
    names, counts = state
    name = example[field]
    known = tf.reduce_any(tf.equal(names, name))
    names = tf.cond(known, lambda: names, lambda: tf.concat([names, [name]], 0))
    counts = tf.cond(known, lambda: counts, lambda: tf.concat([counts, [0]], 0))
    index = tf.argmax(tf.cast(tf.equal(names, name), tf.int32), output_type=tf.int32)
    counts = tf.tensor_scatter_nd_add(counts, [[index]], [1])
    return (names, counts), (example, counts[index] <= cap)

  initial = (tf.zeros([0], tf.string), tf.zeros([0], tf.int32))
  counted = dataset.scan(initial, count)
  return counted.filter(lambda example, keep: keep).map(lambda example, keep: example)


def training_examples(dataset: tf.data.Dataset, cap: int = CAP) -> tf.data.Dataset:
  """Held-out tasks dropped, then at most `cap` examples per task."""
  return cap_per_task(niv2_heldout.drop_heldout_tasks(dataset), cap)


def _fields(ex):
  return {"definition": ex["definition"], "input": ex["input"], "answer": ex["output"], "task_name": ex["task_name"]}


SPEC = registration.DatasetSpec(
    name="niv2", source=tfds_source(TFDS_NAME), family="instructions", field_map=_fields,
    transform=training_examples, exemplar_group_field="task_name")


def register() -> list[str]:
  tasks = registration.register_dataset(SPEC)
  rates.register_mixture(MIXTURE, rates.dataset_rates(tasks, cap=None))
  return tasks


TASKS = register()
