"""T0-SF: the T0 training datasets that are not in Muffin, as far as TFDS 4.9.10 has them natively.

The Flan 2022 T0-SF submixture reads most of its datasets (dream, quail, quartz, sciq, social_i_qa,
wiqa, adversarial_qa, quoref, ropes, duorc, hotpot_qa, wiki_qa, app_reviews, dbpedia_14, common_gen,
amazon_polarity, ...) from Hugging Face. TFDS can reach them through its `huggingface:` namespace,
but that needs the `datasets` package and network access, neither of which can be checked offline
here, so they are NOT registered. What is registered is the documented subset with native TFDS
builders: cos_e, qasc, wiki_bio and xsum (xsum needs a manual download, see the TFDS catalog).
"""
import tensorflow as tf

from flan.data import rates
from flan.data import registration
from flan.data.registration import DatasetSpec
from flan.data.sources import tfds_source
from flan.data.tfds_fields import choice_fields

MIXTURE = "flan2022_t0sf"
CAP = rates.CAPS["t0sf"]
NOT_REGISTERED = ("dream", "quail", "quartz", "sciq", "social_i_qa", "wiqa", "adversarial_qa", "quoref", "ropes",
                  "duorc", "hotpot_qa", "wiki_qa", "app_reviews", "dbpedia_14", "common_gen", "amazon_polarity")


def _cos_e(ex):
  index = tf.argmax(tf.cast(tf.equal(ex["choices"], ex["answer"]), tf.int32))
  return {"question": ex["question"], **choice_fields(ex["choices"], index)}


def _qasc(ex):
  index = tf.argmax(tf.cast(tf.equal(ex["choices"]["label"], ex["answerKey"]), tf.int32))
  context = tf.strings.join([ex["fact1"], " ", ex["fact2"]])
  return {"context": context, "question": ex["question"], **choice_fields(ex["choices"]["text"], index)}


def _wiki_bio(ex):
  table = ex["input_text"]["table"]
  data = tf.strings.reduce_join(tf.strings.join([table["column_header"], ": ", table["content"]]), separator=" | ")
  return {"data": data, "answer": ex["target_text"]}


SPECS = (
    DatasetSpec(name="cos_e", source=tfds_source("cos_e:0.0.1"), family="mc_question", field_map=_cos_e),
    DatasetSpec(name="qasc", source=tfds_source("qasc:0.1.0"), family="multiple_choice", field_map=_qasc),
    DatasetSpec(name="wiki_bio", source=tfds_source("wiki_bio:0.1.0"), family="data_to_text", field_map=_wiki_bio),
    DatasetSpec(name="xsum", source=tfds_source("xsum:1.1.0"), family="summarization",
                field_map=lambda ex: {"text": ex["document"], "answer": ex["summary"]}),
)


def register() -> dict[str, list[str]]:
  tasks = {spec.name: registration.register_dataset(spec) for spec in SPECS}
  rates.register_mixture(MIXTURE, [entry for names in tasks.values() for entry in rates.dataset_rates(names, CAP)])
  return tasks


TASKS = register()
