"""NIv2 tasks kept out of training because they contain a held-out evaluation set: one table, with reasons.

Each rule matches full NIv2 task names ("task685_mmmlu_answer_generation_anatomy") with a regular
expression. `flan-data audit` lists the table; mixtures/niv2.py drops every matching task before
capping and rendering, so no matching example reaches a batch.
"""
import dataclasses
import re

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class HeldoutRule:
  name: str
  pattern: str  # regular expression, matched against the whole task name
  reason: str
  source: str


RULES = (
    HeldoutRule(
        name="mmlu_answer_generation",
        pattern=r"task\d+_mmmlu_answer_generation_.*",
        reason="MMLU questions with their answers (57 tasks, ids 664-667 and 685-737); MMLU is a held-out "
               "benchmark of the paper",
        source="google-research/FLAN flan/v2 task_configs.py filter_mmlu_fn (drops ids 685-737); "
               "Super-NaturalInstructions task list (664-667 are the other four MMLU subjects)"),
)

# Other held-out benchmarks (BBH, TyDiQA GoldP, MGSM / GSM8K test) have no rule yet: NIv2 does hold tasks
# derived from BIG-Bench (e.g. task062_bigbench_repeat_copy_logic, not one of BBH's 27), but the full
# NIv2 task list was not checked name by name against them. The n-gram contamination check
# (`flan-data contamination`) looks at the text itself.
NOT_YET_CHECKED = ("bbh", "tydiqa", "mgsm", "gsm8k_test")

_COMPILED = tuple((rule, re.compile(rule.pattern)) for rule in RULES)


def heldout_reason(task_name: str) -> str | None:
  """The name of the rule that excludes `task_name`, or None when the task is trained on."""
  for rule, compiled in _COMPILED:
    if compiled.fullmatch(task_name):
      return rule.name
  return None


def is_trained_on(task_name: tf.Tensor) -> tf.Tensor:
  """TF predicate on a scalar task-name tensor: False for tasks that a rule excludes."""
  excluded = tf.constant(False)
  for rule in RULES:
    excluded = tf.logical_or(excluded, tf.strings.regex_full_match(task_name, rule.pattern))
  return tf.logical_not(excluded)


def drop_heldout_tasks(dataset: tf.data.Dataset, field: str = "task_name") -> tf.data.Dataset:
  return dataset.filter(lambda example: is_trained_on(example[field]))
