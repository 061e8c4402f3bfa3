"""Flan 2021 datasets added from their TFDS 4.9.10 builders; mixtures/muffin.py registers them with the rest.

newsroom needs a manual download (see the TFDS catalog); the others download with `tfds build`.
"""
import tensorflow as tf

from flan.data.registration import DatasetSpec
from flan.data.sources import tfds_source
from flan.data.tfds_fields import first


def _common_gen(ex):
  return {"data": tf.strings.reduce_join(ex["concepts"], separator=", "), "answer": ex["target"]}


def _idebate(ex):
  return {"text": tf.strings.reduce_join(ex["_argument_sentences"]["value"], separator=" "), "answer": ex["_claim"]}


def _quac(ex):
  return {"context": tf.strings.join([ex["background"], "\n\n", ex["context"]]), "question": ex["question"],
          "answer": first(ex["answers"]["text"], "CANNOTANSWER")}


def specs() -> list[DatasetSpec]:
  def spec(name, tfds_name, family, field_map):
    return DatasetSpec(name=name, source=tfds_source(tfds_name), family=family, field_map=field_map)

  return [
      spec("common_gen", "gem/common_gen:1.1.0", "data_to_text", _common_gen),
      spec("e2e_nlg", "gem/e2e_nlg:1.1.0", "data_to_text",
           lambda ex: {"data": ex["meaning_representation"], "answer": ex["target"]}),
      spec("wiki_lingua_english_en", "gem/wiki_lingua_english_en:1.1.0", "summarization",
           lambda ex: {"text": ex["source"], "answer": ex["target"]}),
      spec("para_crawl_enes", "para_crawl/enes:1.2.0", "translation",
           lambda ex: {"text": ex["en"], "source_language": "English", "target_language": "Spanish",
                       "answer": ex["es"]}),
      spec("quac", "quac:1.0.0", "extractive_qa", _quac),
      spec("unified_qa_science_inst", "unified_qa/ai2_science_middle:1.0.0", "closed_qa",
           lambda ex: {"question": ex["input"], "answer": ex["output"]}),
      spec("opinion_abstracts_idebate", "opinion_abstracts/idebate:1.0.0", "debate_claim", _idebate),
      spec("newsroom", "newsroom:1.0.0", "summarization", lambda ex: {"text": ex["text"], "answer": ex["summary"]}),
  ]
