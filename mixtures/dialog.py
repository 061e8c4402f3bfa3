"""Dialog, the Flan Collection's fifth submixture: wiki_dialog and QReCC, with their inverted copies.

Each example is a conversation so far and its next turn (`dialog:{zs,fs,inverted}` variants of the
"dialog" template family); inverted asks for the conversation before a given turn, weighted 0.3
against 1 as FLAN weights Dialog-II. Cap 200,000 examples per dataset (google-research/FLAN flan/v2
mixtures.py DEFAULT_MIXTURE_MAX_EXAMPLES). Only proportion set C (flan2022_c) gives dialog a share.
FLAN's third dialog dataset, task_master, has no TFDS builder and is not registered.

Mixture: "flan2022_dialog".
"""
import tensorflow as tf

from flan.data import rates
from flan.data import registration
from flan.data.registration import DatasetSpec
from flan.data.sources import tfds_source

MIXTURE = "flan2022_dialog"
CAP = rates.CAPS["dialog"]


def _turns(utterances: tf.Tensor) -> tf.Tensor:
  """'Speaker 1: ...\\nSpeaker 2: ...' for a list of alternating utterances."""
  count = tf.size(utterances)
  speakers = tf.strings.as_string(tf.range(count) % 2 + 1)
  return tf.strings.reduce_join(tf.strings.join(["Speaker ", speakers, ": ", utterances]), separator="\n")


def _wiki_dialog(ex):
  utterances = ex["utterances"]
  last = tf.maximum(tf.size(utterances) - 1, 0)
  history = _turns(utterances[:last])
  answer = tf.cond(tf.size(utterances) > 1, lambda: utterances[last], lambda: tf.constant(""))
  return {"dialog": tf.strings.join(["About ", ex["title"], ":\n", history]), "answer": answer}


def _qrecc(ex):
  history = _turns(ex["context"])
  question = tf.strings.join(["Speaker ", tf.strings.as_string(tf.size(ex["context"]) % 2 + 1), ": ", ex["question"]])
  dialog = tf.strings.reduce_join(tf.stack([history, question]), separator="\n")
  return {"dialog": tf.strings.strip(dialog), "answer": ex["answer"]}


SPECS = (
    DatasetSpec(name="wiki_dialog", source=tfds_source("wiki_dialog:1.0.0"), family="dialog", field_map=_wiki_dialog),
    DatasetSpec(name="qrecc", source=tfds_source("q_re_cc:1.0.0"), family="dialog", field_map=_qrecc),
)


def register() -> dict[str, list[str]]:
  tasks = {spec.name: registration.register_dataset(spec) for spec in SPECS}
  rates.register_mixture(MIXTURE, [entry for names in tasks.values() for entry in rates.dataset_rates(names, CAP)])
  return tasks


TASKS = register()
