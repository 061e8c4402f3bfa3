"""The paper's published Flan-T5 and T5 scores (Table 5), to put beside a run's own.

Source: Chung et al. 2022, "Scaling Instruction-Finetuned Language Models", arXiv:2210.11416v5, Table 5
(columns: normalized average, MMLU direct, MMLU CoT, BBH direct, BBH CoT, TyDiQA direct, MGSM CoT). MMLU there
is the validation split; TyDiQA the mean exact match over the 8 non-English GoldP languages; MGSM the mean
over the 10 translated languages; greedy decoding.

Caution: these values were typed in from the paper by hand and have not yet been checked against the PDF
(one outside citation agrees on Flan-T5-Large MMLU direct, 45.1); SOURCE says so in every report.
"""
from flan.errors import ConfigError

SOURCE = ("Chung et al. 2022, Scaling Instruction-Finetuned Language Models (arXiv:2210.11416v5), Table 5: "
          "MMLU validation split, BBH 27 tasks, TyDiQA 8 non-English languages, MGSM 10 translated languages, "
          "greedy decoding. Entered by hand, not yet checked against the PDF.")
COLUMNS = ("normalized_average", "mmlu_direct", "mmlu_cot", "bbh_direct", "bbh_cot", "tydiqa", "mgsm")
_TABLE5 = {
    # name: (norm. avg., MMLU direct, MMLU CoT, BBH direct, BBH CoT, TyDiQA, MGSM)
    "t5-small": (-9.2, 26.7, 5.6, 27.0, 7.2, 0.0, 0.4),
    "flan-t5-small": (-3.1, 28.7, 12.1, 29.1, 19.2, 1.1, 0.2),
    "t5-base": (-5.1, 25.7, 14.5, 27.8, 14.6, 0.0, 0.5),
    "flan-t5-base": (6.5, 35.9, 33.7, 31.3, 27.9, 4.1, 0.4),
    "t5-large": (-5.0, 25.1, 15.0, 27.7, 16.1, 0.0, 0.3),
    "flan-t5-large": (13.8, 45.1, 40.5, 37.5, 31.5, 12.3, 0.7),
    "t5-xl": (-4.1, 25.7, 14.5, 27.4, 19.2, 0.0, 0.8),
    "flan-t5-xl": (19.1, 52.4, 45.3, 41.0, 35.9, 16.6, 1.6),
    "t5-xxl": (-2.9, 25.9, 18.7, 29.5, 19.3, 0.0, 1.0),
    "flan-t5-xxl": (23.7, 55.1, 48.6, 45.3, 41.4, 19.0, 4.9),
}
MODELS = tuple(_TABLE5)


def lookup(name):
  """{column: published score} of a Table 5 row ("flan-t5-xl", "t5-base", ...; case and '_' tolerated)."""
  key = name.strip().lower().replace("_", "-")
  if key not in _TABLE5:
    raise ConfigError(f"--compare_to={name!r}: not a row of the paper's Table 5; choose from {list(MODELS)}")
  return dict(zip(COLUMNS, _TABLE5[key]))
