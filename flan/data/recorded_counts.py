"""Recorded train-split sizes of the registered datasets, for `flan-data audit` without downloaded data.

Used only where the data is not present (a prepared TFDS dataset or a P3 source reports its own size
first). `at_least` marks a size known only to exceed the dataset's cap: its rate is exact (the cap),
and its epoch count an upper bound. Sizes of datasets P3 also holds are T0_TRAIN_TASK_SPLITS 'train'
entries of google-research/FLAN flan/v2/constants_t0.py (P3 prompts of the same dataset); CoT sizes
are the rows of FLAN's cot_data TSV files; the rest are the published train sizes of the datasets
(GLUE, SNLI, SQuAD v1.1 and the TFDS catalog).
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Recorded:
  count: int
  source: str
  at_least: bool = False


T0 = "FLAN constants_t0.py (P3 train split of this dataset)"
PUBLISHED = "published train size (dataset paper / TFDS catalog)"
COT = "rows of FLAN cot_data/<name>_train.tsv"
LOWER = "exceeds the cap: TFDS catalog lists far more"

TRAIN: dict[str, Recorded] = {
    # Muffin (Flan 2021)
    "aeslc": Recorded(14_436, PUBLISHED),
    "ag_news_subset": Recorded(120_000, T0),
    "anli_r1": Recorded(16_946, T0), "anli_r2": Recorded(45_460, T0), "anli_r3": Recorded(100_459, T0),
    "arc_challenge": Recorded(1_119, T0), "arc_easy": Recorded(2_251, T0),
    "bool_q": Recorded(9_427, T0),
    "cnn_dailymail": Recorded(287_113, T0),
    "coqa": Recorded(7_199, PUBLISHED),
    "cosmos_qa": Recorded(25_262, T0),
    "dart": Recorded(30_000, LOWER, at_least=True),
    "definite_pronoun_resolution": Recorded(1_322, PUBLISHED),
    "drop": Recorded(77_409, PUBLISHED),
    "gigaword": Recorded(3_803_957, T0),
    "glue_cola": Recorded(8_551, PUBLISHED), "glue_mnli": Recorded(392_702, PUBLISHED),
    "glue_mrpc": Recorded(3_668, T0), "glue_qnli": Recorded(104_743, PUBLISHED),
    "glue_qqp": Recorded(363_846, T0), "glue_sst2": Recorded(67_349, PUBLISHED),
    "glue_stsb": Recorded(5_749, PUBLISHED), "glue_wnli": Recorded(635, PUBLISHED),
    "hellaswag": Recorded(39_905, T0),
    "imdb_reviews": Recorded(25_000, T0),
    "math_dataset_algebra_linear_1d": Recorded(30_000, LOWER, at_least=True),
    "multi_news": Recorded(44_972, T0),
    "natural_questions_open": Recorded(87_925, PUBLISHED),
    "openbookqa": Recorded(4_957, T0),
    "opinion_abstracts_rotten_tomatoes": Recorded(3_731, PUBLISHED),
    "paws_wiki": Recorded(49_401, T0),
    "piqa": Recorded(16_113, T0),
    "samsum": Recorded(14_732, T0),
    "sentiment140": Recorded(1_600_000, PUBLISHED),
    "snli": Recorded(550_152, PUBLISHED),
    "squad_v1": Recorded(87_599, PUBLISHED), "squad_v2": Recorded(130_319, T0),
    "super_glue_cb": Recorded(250, T0), "super_glue_copa": Recorded(400, T0),
    "super_glue_multirc": Recorded(27_243, T0), "super_glue_record": Recorded(100_730, T0),
    "super_glue_rte": Recorded(2_490, T0), "super_glue_wic": Recorded(5_428, T0),
    "super_glue_wsc": Recorded(554, T0),
    "trec": Recorded(5_452, T0),
    "trivia_qa": Recorded(30_000, LOWER, at_least=True),
    "web_nlg": Recorded(30_000, "exceeds the cap: WebNLG 2.1 has 35,426 English train texts", at_least=True),
    "winogrande": Recorded(40_398, T0),
    "xsum": Recorded(204_045, T0),
    "yelp_polarity_reviews": Recorded(560_000, PUBLISHED),
    **{name: Recorded(30_000, LOWER, at_least=True) for name in (
        "wmt14_translate_fr_en", "wmt14_translate_en_fr",
        *(f"wmt16_translate_{a}_{b}" for lang in ("cs", "de", "fi", "ro", "ru", "tr")
          for a, b in ((lang, "en"), ("en", lang))))},
    # Flan 2021 datasets added from TFDS builders (mixtures/flan2021_more.py)
    "common_gen": Recorded(67_389, T0),
    "e2e_nlg": Recorded(33_525, PUBLISHED),
    "wiki_lingua_english_en": Recorded(30_000, LOWER, at_least=True),
    "para_crawl_enes": Recorded(30_000, LOWER, at_least=True),
    "quac": Recorded(83_568, PUBLISHED),
    "unified_qa_science_inst": Recorded(605, PUBLISHED),
    "opinion_abstracts_idebate": Recorded(2_259, PUBLISHED),
    "newsroom": Recorded(995_041, PUBLISHED),
    # Dialog
    "wiki_dialog": Recorded(200_000, LOWER, at_least=True),
    "qrecc": Recorded(63_501, PUBLISHED),
    # Chain of thought
    "cot_aqua": Recorded(2_728, COT), "cot_creak": Recorded(6_915, COT), "cot_ecqa": Recorded(7_112, COT),
    "cot_gsm8k": Recorded(7_473, COT), "cot_qasc": Recorded(1_084, COT),
    "cot_sensemaking": Recorded(6_070, COT), "cot_strategyqa": Recorded(2_061, COT),
}
