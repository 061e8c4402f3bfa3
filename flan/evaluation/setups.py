"""The paper's evaluation setups as named defaults, each with its source, and their record in results.json.

Source of every default: Chung et al. 2022, "Scaling Instruction-Finetuned Language Models", Section 2.3 and
Appendix (evaluation), Table 5 (Flan-T5 results):
  MMLU: 5-shot, direct and chain-of-thought; Table 5 uses the validation split, Tables 1 and 4 the test split.
  BBH: the 27 tasks, 3-shot (the published cot-prompts), direct and chain-of-thought.
  TyDiQA GoldP: 1-shot, exact match, averaged over the 8 non-English languages.
  MGSM: 8-shot chain-of-thought with native exemplars, averaged over the 10 translated languages.
  Decoding: greedy.
A result is comparable with the paper's only when its setup record matches these; two results are comparable
with each other when their setup records are equal.
"""
import dataclasses
from typing import Optional, Sequence

from flan.errors import ConfigError

PAPER = "Chung et al. 2022, Scaling Instruction-Finetuned Language Models"
MMLU_SPLITS = {"test": "test", "validation": "val", "val": "val"}  # flag value -> file suffix of the release
PAPER_MMLU_SPLIT_TABLE5 = "validation"
MMLU_SPLIT_NOTE = ("Table 5 of the paper (Flan-T5) reports MMLU on the validation split (--mmlu_split=validation); "
                   "Tables 1 and 4 on the test split")
SHOTS = {"mmlu_direct": 5, "mmlu_cot": 5, "bbh_direct": 3, "bbh_cot": 3, "tydiqa": 1, "mgsm": 8}
# The 10 languages MGSM translated GSM8K into (Shi et al. 2022); English (the source) is reported apart.
MGSM_PAPER_LANGUAGES = ("bn", "de", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
# TyDiQA GoldP's 9 languages less English, named as in the GoldP question ids ("swahili-...").
TYDIQA_PAPER_LANGUAGES = ("arabic", "bengali", "finnish", "indonesian", "korean", "russian", "swahili",
                          "telugu")
SOURCES = {
    "mmlu_direct": f"{PAPER}: MMLU 5-shot direct prompting (Hendrycks et al. 2021 prompt format)",
    "mmlu_cot": f"{PAPER}: MMLU 5-shot chain-of-thought with the published exemplars (mmlu-cot.json)",
    "bbh_direct": f"{PAPER}: BBH 27 tasks, 3-shot answer-only (Suzgun et al. 2022 cot-prompts without rationales)",
    "bbh_cot": f"{PAPER}: BBH 27 tasks, 3-shot chain-of-thought (Suzgun et al. 2022 cot-prompts)",
    "tydiqa": f"{PAPER}: TyDiQA GoldP 1-shot exact match over the 8 non-English languages",
    "mgsm": f"{PAPER}: MGSM 8-shot chain-of-thought with native exemplars over the 10 translated languages",
}
MMLU_COT_FALLBACK_WARNING = (
    "MMLU CoT used the answer-only fallback (dev exemplars without rationales), not the paper's published CoT "
    "exemplars: pass --mmlu_cot_prompts=mmlu-cot.json or put it in the MMLU folder; the score is not comparable "
    "with the paper's MMLU CoT")


def _languages(value, what, default):
  if value is None:
    return tuple(default)
  if isinstance(value, str):
    value = [v.strip() for v in value.split(",")]
  languages = tuple(v for v in value if v)
  if not languages:
    raise ConfigError(f"{what} is empty; give a comma-separated list of languages or leave it unset")
  return languages


@dataclasses.dataclass(frozen=True)
class EvalSetup:
  """What is evaluated and how; every field defaults to the paper's setup (see the module docstring).

  mmlu_split: "test" or "validation" (the paper's Table 5 used validation).
  mgsm_languages / tydiqa_languages: the languages averaged into the score; others present in the data are
    scored and reported apart (English by default).
  """
  mmlu_split: str = "test"
  mgsm_languages: Sequence[str] = MGSM_PAPER_LANGUAGES
  tydiqa_languages: Sequence[str] = TYDIQA_PAPER_LANGUAGES

  @classmethod
  def from_flags(cls, mmlu_split=None, mgsm_languages=None, tydiqa_languages=None):
    split = (mmlu_split or "test").strip().lower()
    if split not in MMLU_SPLITS:
      raise ConfigError(f"--mmlu_split={mmlu_split!r}: choose test or validation")
    return cls(mmlu_split="validation" if split == "val" else split,
               mgsm_languages=_languages(mgsm_languages, "--mgsm_languages", MGSM_PAPER_LANGUAGES),
               tydiqa_languages=_languages(tydiqa_languages, "--tydiqa_languages", TYDIQA_PAPER_LANGUAGES))

  @property
  def mmlu_file_split(self):
    return MMLU_SPLITS[self.mmlu_split]

  def score_languages(self, benchmark) -> Optional[tuple]:
    """The subsets averaged into the benchmark's score, or None when every subset counts."""
    if benchmark == "mgsm":
      return tuple(self.mgsm_languages)
    if benchmark == "tydiqa":
      return tuple(self.tydiqa_languages)
    return None

  def scored_subsets(self, benchmark, present):
    """(subsets in the score, subsets reported apart) among those present; raises when none would count."""
    wanted = self.score_languages(benchmark)
    present = list(present)
    if wanted is None:
      return present, []
    scored = [s for s in present if s in wanted]
    if not scored:
      flag = "--mgsm_languages" if benchmark == "mgsm" else "--tydiqa_languages"
      raise ConfigError(f"{benchmark}: none of the scored languages {list(wanted)} is in the data "
                        f"(present: {present}); set {flag} to the languages to average")
    return scored, [s for s in present if s not in wanted]

  def record(self, benchmark, *, subsets_present, prompt_source, decoding):
    """The setup fields results.json keeps for one benchmark."""
    entry = {"shots": SHOTS[benchmark], "decoding": decoding, "prompt_source": prompt_source,
             "paper_setup": SOURCES[benchmark]}
    if benchmark.startswith("mmlu"):
      entry["split"] = self.mmlu_split
      entry["split_note"] = MMLU_SPLIT_NOTE
    elif benchmark.startswith("bbh"):
      entry["split"] = "test (BBH has one split)"
    elif benchmark == "tydiqa":
      entry["split"] = "dev (TyDiQA GoldP's evaluation split)"
    else:
      entry["split"] = "test (MGSM has one split)"
    wanted = self.score_languages(benchmark)
    if wanted is not None:
      scored, apart = self.scored_subsets(benchmark, subsets_present)
      entry["languages"] = scored
      entry["languages_reported_apart"] = apart
      entry["languages_missing"] = [s for s in wanted if s not in subsets_present]
    return entry

  def warnings(self, benchmark, setup_record):
    """Reasons this benchmark's score differs from the paper's setup (empty when it matches)."""
    found = []
    if setup_record.get("prompt_source") == "answer-only fallback":
      found.append(MMLU_COT_FALLBACK_WARNING)
    if benchmark.startswith("mmlu") and self.mmlu_split != PAPER_MMLU_SPLIT_TABLE5:
      found.append(f"{benchmark}: MMLU {self.mmlu_split} split; the paper's Table 5 used validation")
    missing = setup_record.get("languages_missing")
    if missing:
      found.append(f"{benchmark}: {len(missing)} of the paper's languages are absent from the data "
                   f"({', '.join(missing)}); the average is over {', '.join(setup_record['languages'])} only")
    wanted = self.score_languages(benchmark)
    paper = {"mgsm": MGSM_PAPER_LANGUAGES, "tydiqa": TYDIQA_PAPER_LANGUAGES}.get(benchmark)
    if wanted is not None and tuple(sorted(wanted)) != tuple(sorted(paper)):
      found.append(f"{benchmark}: scored languages {list(wanted)} differ from the paper's {list(paper)}")
    return found
