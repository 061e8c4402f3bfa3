"""Super-Natural Instructions (NIv2) from TFDS `natural_instructions:1.0.1`, and the NIv2 mixture.

TFDS holds all 1,600+ NIv2 tasks in one dataset (fields definition, input, output, task_name), so it
is registered as one dataset, `niv2:{zs,fs}`, with the Flan 2022 cap of 5,000 examples applied per
NIv2 task inside the stream (the first 5,000 of each task_name, counted from the numeric id that
every NIv2 task name starts with, "task123_..."). Few-shot exemplars come from the same NIv2 task: the
exemplar pool keeps the first registration.EXEMPLARS_PER_GROUP train examples of every task.
"""
import tensorflow as tf

from flan.data import rates
from flan.data import registration
from flan.data.sources import tfds_source

TFDS_NAME = "natural_instructions:1.0.1"
MIXTURE = "flan2022_niv2"
CAP = rates.CAPS["niv2"]
_MAX_TASK_ID = 4096  # NIv2 task ids are below 2,000; larger or unparsable ids share the last counter


def task_id(task_name: tf.Tensor) -> tf.Tensor:
  """The number in "task123_name" (0 .. _MAX_TASK_ID - 1)."""
  digits = tf.strings.regex_replace(task_name, r"^task0*(\d+).*$", r"\1")
  is_number = tf.strings.regex_full_match(digits, r"\d{1,6}")
  number = tf.strings.to_number(tf.where(is_number, digits, "0"), tf.int32)
  return tf.where(is_number, tf.minimum(number, _MAX_TASK_ID - 1), _MAX_TASK_ID - 1)


def cap_per_task(dataset: tf.data.Dataset, cap: int = CAP) -> tf.data.Dataset:
  """Keeps at most `cap` examples of each NIv2 task (in stream order)."""
  def count(counts, example):
    index = task_id(example["task_name"])
    counts = tf.tensor_scatter_nd_add(counts, [[index]], [1])
    return counts, (example, counts[index] <= cap)

  counted = dataset.scan(tf.zeros([_MAX_TASK_ID], tf.int32), count)
  return counted.filter(lambda example, keep: keep).map(lambda example, keep: example)


def _fields(ex):
  return {"definition": ex["definition"], "input": ex["input"], "answer": ex["output"], "task_name": ex["task_name"]}


SPEC = registration.DatasetSpec(
    name="niv2", source=tfds_source(TFDS_NAME), family="instructions", field_map=_fields,
    transform=cap_per_task, exemplar_group_field="task_name")


def register() -> list[str]:
  tasks = registration.register_dataset(SPEC)
  rates.register_mixture(MIXTURE, rates.dataset_rates(tasks, cap=None))
  return tasks


TASKS = register()
