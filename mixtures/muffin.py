"""Muffin (Flan 2021) datasets that TFDS 4.9.10 provides, and the "flan2022_muffin" mixture.

Each dataset is registered in every prompt variant its template family supports (flan.data.variants);
rates are examples-proportional with the Muffin cap of 30,000 (flan.data.rates). TFDS names carry the
versions registered in tensorflow-datasets 4.9.10. Data is read only when a task is used; download it
with `tfds build NAME` (samsum, xsum and the WMT pairs need a manual download, see TFDS docs).

As in the Flan Collection: RTE appears once (super_glue_rte; GLUE's RTE is the same data), the two
directions of a translation pair share one capped rate (RATE_GROUPS), and xsum is here (it belongs to
Flan 2021, not T0-SF). flan2021_more.py adds gem common_gen, e2e_nlg and wiki_lingua, para_crawl en-es,
quac, unified_qa science, opinion_abstracts idebate and newsroom. Not registered: lambada (a last-word
task no template family here fits), story_cloze (no train split), and FLAN's derived true_case /
fix_punct / word_segment tasks.
"""
import tensorflow as tf

from flan.data import rates
from flan.data import registration
from flan.data.registration import DatasetSpec
from flan.data.sources import tfds_source
from flan.data.tfds_fields import choice_fields, choose, first, has_label, join, options_and_answer
from flan.mixtures import flan2021_more

MIXTURE = "flan2022_muffin"
CAP = rates.CAPS["muffin"]

NLI3 = ["yes", "it is not possible to tell", "no"]  # entailment, neutral, contradiction
YES_NO = ["yes", "no"]
NO_YES = ["no", "yes"]


def _nli(premise, hypothesis, names):
  return lambda ex: {"premise": ex[premise], "hypothesis": ex[hypothesis], **options_and_answer(names, ex["label"])}


def _paraphrase(first_key, second_key, names=NO_YES):
  return lambda ex: {"sentence1": ex[first_key], "sentence2": ex[second_key],
                     **options_and_answer(names, ex["label"])}


def _sentiment(text_key, names, label_key="label"):
  return lambda ex: {"text": ex[text_key], **options_and_answer(names, ex[label_key])}


def _summary(text_key, summary_key, family="summarization"):
  return family, lambda ex: {"text": ex[text_key], "answer": ex[summary_key]}


def _squad(ex):
  return {"context": ex["context"], "question": ex["question"], "answer": first(ex["answers"]["text"], "unanswerable")}


def _arc(ex):
  index = tf.argmax(tf.cast(tf.equal(ex["choices"]["label"], ex["answerKey"]), tf.int32))
  return {"question": ex["question"], **choice_fields(ex["choices"]["text"], index)}


def _openbookqa(ex):
  q = ex["question"]
  options = tf.stack([q["choice_A"], q["choice_B"], q["choice_C"], q["choice_D"]])
  return {"question": q["stem"], **choice_fields(options, ex["answerKey"])}


def _copa(ex):
  question = tf.where(tf.equal(ex["question"], "cause"), "What was the cause of this?",
                      "What happened as a result?")
  return {"context": ex["premise"], "question": question,
          **choice_fields(tf.stack([ex["choice1"], ex["choice2"]]), ex["label"])}


def _cosmos(ex):
  options = tf.stack([ex["answer0"], ex["answer1"], ex["answer2"], ex["answer3"]])
  return {"context": ex["context"], "question": ex["question"], **choice_fields(options, ex["label"])}


def _piqa(ex):
  return {"question": ex["goal"], **choice_fields(tf.stack([ex["sol1"], ex["sol2"]]), ex["label"])}


def _winogrande(ex):
  return {"sentence": ex["sentence"], "pronoun": tf.constant("_"),
          **choice_fields(tf.stack([ex["option1"], ex["option2"]]), ex["label"])}


def _dpr(ex):
  return {"sentence": ex["sentence"], "pronoun": ex["pronoun"], **choice_fields(ex["candidates"], ex["label"])}


def _hellaswag(ex):
  return {"context": ex["context"], **choice_fields(ex["endings"], ex["label"])}


def _multirc(ex):
  question = join(ex["question"], " Is \"", ex["answer"], "\" a correct answer to that")
  return {"passage": ex["paragraph"], "question": question, **options_and_answer(NO_YES, ex["label"])}


def _wsc(ex):
  question = join("in \"", ex["text"], "\", does \"", ex["span2_text"], "\" refer to \"", ex["span1_text"], "\"")
  return {"passage": ex["text"], "question": question, **options_and_answer(NO_YES, ex["label"])}


def _qnli(ex):
  question = join("does the passage answer the question \"", ex["question"], "\"")
  return {"passage": ex["sentence"], "question": question, **options_and_answer(YES_NO, ex["label"])}


def _bool_q(ex):
  return {"passage": ex["passage"], "question": ex["question"],
          "options": tf.constant(NO_YES), "answer": tf.where(ex["answer"], "yes", "no")}


def _stsb(ex):
  return {"sentence1": ex["sentence1"], "sentence2": ex["sentence2"],
          "answer": tf.strings.as_string(tf.round(ex["label"]), precision=0)}


def _ag_news(ex):
  return {"text": join(ex["title"], "\n\n", ex["description"]),
          **options_and_answer(["World", "Sports", "Business", "Science/Tech"], ex["label"])}


def _sentiment140(ex):
  return {"text": ex["text"], "options": tf.constant(["negative", "positive"]),
          "answer": tf.where(ex["polarity"] > 2, "positive", "negative")}


def _table_to_text(ex):
  table = ex["input_text"]["table"]
  data = tf.strings.reduce_join(tf.strings.join([table["column_header"], ": ", table["content"]]), separator=" | ")
  return {"data": data, "answer": ex["target_text"]}


def _rotten_tomatoes(ex):
  return {"text": tf.strings.reduce_join(ex["_critics"]["value"], separator="\n"), "answer": ex["_critic_consensus"]}


LANGUAGES = {"cs": "Czech", "de": "German", "fi": "Finnish", "fr": "French", "ro": "Romanian", "ru": "Russian",
             "tr": "Turkish", "en": "English"}


def _translation(source, target):
  return lambda ex: {"text": ex[source], "source_language": LANGUAGES[source],
                     "target_language": LANGUAGES[target], "answer": ex[target]}


def _specs() -> list[DatasetSpec]:
  specs = []

  def add(name, tfds_name, family, field_map, filter_fn=None):
    specs.append(DatasetSpec(name=name, source=tfds_source(tfds_name), family=family, field_map=field_map,
                             filter_fn=filter_fn))

  labelled = has_label()
  for round_name in ("r1", "r2", "r3"):
    add(f"anli_{round_name}", f"anli/{round_name}:0.1.0", "nli", _nli("context", "hypothesis", NLI3), labelled)
  add("arc_challenge", "ai2_arc/ARC-Challenge:1.0.0", "mc_question", _arc)
  add("arc_easy", "ai2_arc/ARC-Easy:1.0.0", "mc_question", _arc)
  add("bool_q", "bool_q:1.0.0", "yes_no_qa", _bool_q)
  add("cnn_dailymail", "cnn_dailymail:3.4.0", *_summary("article", "highlights"))
  add("cosmos_qa", "cosmos_qa:1.0.0", "multiple_choice", _cosmos, labelled)
  add("definite_pronoun_resolution", "definite_pronoun_resolution:1.1.0", "coreference", _dpr, labelled)
  add("drop", "drop:2.0.0", "extractive_qa",
      lambda ex: {"context": ex["passage"], "question": ex["question"], "answer": ex["answer"]})
  add("gigaword", "gigaword:1.2.0", *_summary("document", "summary", "title"))
  add("glue_cola", "glue/cola:2.0.0", "acceptability",
      lambda ex: {"sentence": ex["sentence"], **options_and_answer(["unacceptable", "acceptable"], ex["label"])},
      labelled)
  add("glue_mnli", "glue/mnli:2.0.0", "nli", _nli("premise", "hypothesis", NLI3), labelled)
  add("glue_mrpc", "glue/mrpc:2.0.0", "paraphrase", _paraphrase("sentence1", "sentence2"), labelled)
  add("glue_qnli", "glue/qnli:2.0.0", "yes_no_qa", _qnli, labelled)
  add("glue_qqp", "glue/qqp:2.0.0", "paraphrase", _paraphrase("question1", "question2"), labelled)
  add("glue_sst2", "glue/sst2:2.0.0", "sentiment", _sentiment("sentence", ["negative", "positive"]), labelled)
  add("glue_stsb", "glue/stsb:2.0.0", "similarity", _stsb, lambda ex: ex["label"] >= 0)
  add("glue_wnli", "glue/wnli:2.0.0", "nli", _nli("sentence1", "sentence2", NO_YES), labelled)
  add("hellaswag", "hellaswag:1.1.0", "completion", _hellaswag, labelled)
  add("imdb_reviews", "imdb_reviews/plain_text:1.0.0", "sentiment", _sentiment("text", ["negative", "positive"]),
      labelled)
  add("multi_news", "multi_news:2.1.0", *_summary("document", "summary"))
  add("natural_questions_open", "natural_questions_open:1.0.0", "closed_qa",
      lambda ex: {"question": ex["question"], "answer": first(ex["answer"])})
  add("openbookqa", "openbookqa:0.1.0", "mc_question", _openbookqa)
  add("paws_wiki", "paws_wiki/labeled_final_raw:1.1.0", "paraphrase", _paraphrase("sentence1", "sentence2"),
      labelled)
  add("piqa", "piqa:1.0.0", "mc_question", _piqa, labelled)
  add("samsum", "samsum:1.0.0", *_summary("dialogue", "summary", "dialogue_summary"))
  add("xsum", "xsum:1.1.0", *_summary("document", "summary"))
  add("snli", "snli:1.1.0", "nli", _nli("premise", "hypothesis", NLI3), labelled)
  add("squad_v1", "squad/v1.1:3.0.0", "extractive_qa", _squad)
  add("squad_v2", "squad/v2.0:3.0.0", "extractive_qa", _squad)
  add("super_glue_cb", "super_glue/cb:1.0.2", "nli",
      _nli("premise", "hypothesis", ["yes", "no", "it is not possible to tell"]), labelled)
  add("super_glue_copa", "super_glue/copa:1.0.2", "multiple_choice", _copa, labelled)
  add("super_glue_multirc", "super_glue/multirc:1.0.2", "yes_no_qa", _multirc, labelled)
  add("super_glue_record", "super_glue/record:1.0.2", "extractive_qa",
      lambda ex: {"context": ex["passage"], "question": ex["query"], "answer": first(ex["answers"])},
      lambda ex: tf.size(ex["answers"]) > 0)
  add("super_glue_rte", "super_glue/rte:1.0.2", "nli", _nli("premise", "hypothesis", YES_NO), labelled)
  add("super_glue_wic", "super_glue/wic:1.0.2", "word_sense",
      lambda ex: {"word": ex["word"], "sentence1": ex["sentence1"], "sentence2": ex["sentence2"],
                  **options_and_answer(NO_YES, ex["label"])}, labelled)
  add("super_glue_wsc", "super_glue/wsc.fixed:1.0.2", "yes_no_qa", _wsc, labelled)
  add("trec", "trec:1.0.0", "topic",
      lambda ex: {"text": ex["text"], **options_and_answer(
          ["description", "entity", "abbreviation", "person", "number", "location"], ex["label-coarse"])})
  add("trivia_qa", "trivia_qa/rc.nocontext:1.1.0", "closed_qa",
      lambda ex: {"question": ex["question"], "answer": ex["answer"]["value"]})
  add("winogrande", "winogrande:1.2.0", "coreference", _winogrande, labelled)
  add("yelp_polarity_reviews", "yelp_polarity_reviews:0.2.0", "sentiment",
      _sentiment("text", ["negative", "positive"]), labelled)
  add("ag_news_subset", "ag_news_subset:1.0.0", "topic", _ag_news, labelled)
  add("aeslc", "aeslc:1.0.0", *_summary("email_body", "subject_line", "title"))
  add("opinion_abstracts_rotten_tomatoes", "opinion_abstracts/rotten_tomatoes:1.0.0", "critics_consensus",
      _rotten_tomatoes)
  add("sentiment140", "sentiment140:1.0.0", "sentiment", _sentiment140, lambda ex: ex["polarity"] != 2)
  add("coqa", "coqa:1.0.0", "extractive_qa",
      lambda ex: {"context": ex["story"], "question": first(ex["questions"]),
                  "answer": first(ex["answers"]["input_text"])})
  add("math_dataset_algebra_linear_1d", "math_dataset/algebra__linear_1d:1.0.0", "closed_qa",
      lambda ex: {"question": ex["question"], "answer": ex["answer"]})
  add("dart", "dart:0.1.0", "data_to_text", _table_to_text)
  add("web_nlg", "web_nlg:0.1.0", "data_to_text", _table_to_text)
  add("wmt14_translate_fr_en", "wmt14_translate/fr-en:1.0.0", "translation", _translation("fr", "en"))
  add("wmt14_translate_en_fr", "wmt14_translate/fr-en:1.0.0", "translation", _translation("en", "fr"))
  for lang in ("cs", "de", "fi", "ro", "ru", "tr"):
    add(f"wmt16_translate_{lang}_en", f"wmt16_translate/{lang}-en:1.0.0", "translation", _translation(lang, "en"))
    add(f"wmt16_translate_en_{lang}", f"wmt16_translate/{lang}-en:1.0.0", "translation", _translation("en", lang))
  return specs + flan2021_more.specs()


# Datasets that share one capped rate: the two directions of each translation pair.
RATE_GROUPS = {"wmt14_translate_fr_en": ("wmt14_translate_fr_en", "wmt14_translate_en_fr"),
               **{f"wmt16_translate_{lang}_en": (f"wmt16_translate_{lang}_en", f"wmt16_translate_en_{lang}")
                  for lang in ("cs", "de", "fi", "ro", "ru", "tr")}}


def rate_group_of(dataset: str) -> str:
  """The name under which `dataset` is capped (its own name unless it shares a rate group)."""
  for group, members in RATE_GROUPS.items():
    if dataset in members:
      return group
  return dataset


def register() -> dict[str, list[str]]:
  """Registers every Muffin dataset's variant tasks and the mixture; returns dataset -> task names."""
  tasks = {spec.name: registration.register_dataset(spec) for spec in _specs()}
  groups = {}
  for dataset, names in tasks.items():
    groups.setdefault(rate_group_of(dataset), []).extend(names)
  rates.register_mixture(MIXTURE, [entry for names in groups.values() for entry in rates.dataset_rates(names, CAP)])
  return tasks


TASKS = register()
