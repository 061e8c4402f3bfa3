"""The six scores of the paper's evaluation (Table 5 columns, in order) and how to build their prompts."""
import dataclasses
import pathlib
from typing import Optional

from flan.errors import ConfigError
from flan.evaluation import prompts_bbh
from flan.evaluation import prompts_mgsm
from flan.evaluation import prompts_mmlu
from flan.evaluation import prompts_tydiqa
from flan.evaluation import setups

# Paper Table 5 column order (after the normalized average).
BENCHMARKS = ("mmlu_direct", "mmlu_cot", "bbh_direct", "bbh_cot", "tydiqa", "mgsm")
COLUMN_TITLES = {"mmlu_direct": "MMLU Direct", "mmlu_cot": "MMLU CoT", "bbh_direct": "BBH Direct",
                 "bbh_cot": "BBH CoT", "tydiqa": "TyDiQA Direct", "mgsm": "MGSM CoT"}
ALIASES = {"all": BENCHMARKS, "mmlu": ("mmlu_direct", "mmlu_cot"), "bbh": ("bbh_direct", "bbh_cot"),
           "tydiqa_direct": ("tydiqa",), "mgsm_cot": ("mgsm",)}
CHAIN_OF_THOUGHT = ("mmlu_cot", "bbh_cot", "mgsm")
DATA_SUBDIRS = {"mmlu": "mmlu", "bbh": "bbh", "tydiqa": "tydiqa", "mgsm": "mgsm"}


def resolve_names(spec):
  """"mmlu,bbh_cot" -> ("mmlu_direct", "mmlu_cot", "bbh_cot"), in Table 5 order; unknown names raise."""
  names = spec.split(",") if isinstance(spec, str) else list(spec)
  chosen = set()
  for name in (n.strip().lower() for n in names if n.strip()):
    if name in ALIASES:
      chosen.update(ALIASES[name])
    elif name in BENCHMARKS:
      chosen.add(name)
    else:
      raise ConfigError(f"--benchmarks: unknown benchmark {name!r}; choose from "
                        f"{sorted(set(BENCHMARKS) | set(ALIASES))}")
  if not chosen:
    raise ConfigError("--benchmarks: no benchmark selected")
  return tuple(b for b in BENCHMARKS if b in chosen)


@dataclasses.dataclass(frozen=True)
class DataDirs:
  """Where each benchmark's files are: explicit folders win over <data_dir>/<benchmark>."""
  data_dir: Optional[str] = None
  mmlu_dir: Optional[str] = None
  bbh_dir: Optional[str] = None
  tydiqa_dir: Optional[str] = None
  mgsm_dir: Optional[str] = None
  mmlu_cot_prompts: Optional[str] = None
  mgsm_exemplars: Optional[str] = None

  def folder(self, family):
    explicit = getattr(self, f"{family}_dir")
    if explicit:
      return pathlib.Path(explicit)
    if self.data_dir:
      return pathlib.Path(self.data_dir) / DATA_SUBDIRS[family]
    raise ConfigError(f"no folder for {family}: pass --{family}_dir or --data_dir (holding {family}/)")


def build_examples(name, dirs, setup=None):
  """(examples, prompt source) of one benchmark under the setup (default: the paper's, see setups.py).

  The prompt source names where the few-shot exemplars came from (a file, or "answer-only fallback").
  """
  setup = setup or setups.EvalSetup()
  if name in ("mmlu_direct", "mmlu_cot"):
    return prompts_mmlu.build(dirs.folder("mmlu"), cot=name == "mmlu_cot",
                              cot_prompts_path=dirs.mmlu_cot_prompts, split=setup.mmlu_file_split)
  if name in ("bbh_direct", "bbh_cot"):
    examples, _ = prompts_bbh.build(dirs.folder("bbh"), cot=name == "bbh_cot")
    return examples, str(dirs.folder("bbh") / "cot-prompts")
  if name == "tydiqa":
    examples, _ = prompts_tydiqa.build(dirs.folder("tydiqa"))
    return examples, prompts_tydiqa.EXEMPLAR_SOURCE
  if name == "mgsm":
    return prompts_mgsm.build(dirs.folder("mgsm"), exemplars_path=dirs.mgsm_exemplars)
  raise ValueError(f"unknown benchmark {name!r}; choose from {BENCHMARKS}")
