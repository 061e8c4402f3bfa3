"""The 9 Flan chain-of-thought datasets from their TSV files, and the CoT mixtures.

Files: <dir>/<name>_train.tsv, no header, columns question <TAB> answer <TAB> rationale, with line
breaks written as the two characters "\\n" (as in the FLAN repository's cot_data). The directory
comes from, first match wins: gin `flan.mixtures.cot.cot_data_dir.path`, the FLAN_COT_DIR variable.
A missing directory or file is an error only when a task that needs it is used.

Each dataset is registered as `cot_<name>:{cot,cot_fs,inverted}`: the Flan Collection's CoT prompts
always carry the rationale, so there are no answer-only twins; inverted (question from answer and
rationale) is weighted 0.3 against 1, as FLAN weights its CoT-II submixture.
Mixtures: "flan2022_cot" (all 9) and "flan2022_cot_7" (without esnli and qed, whose files the FLAN
snapshot in ../shared/data lacks).
"""
import os

import gin

from flan.data import rates
from flan.data import registration
from flan.data import sources

DATASETS = ("aqua", "creak", "ecqa", "esnli", "gsm8k", "qasc", "qed", "sensemaking", "strategyqa")
WITHOUT_LARGE_FILES = tuple(d for d in DATASETS if d not in ("esnli", "qed"))
MIXTURE = "flan2022_cot"
MIXTURE_7 = "flan2022_cot_7"
CAP = rates.CAPS["cot"]
COLUMNS = ("question", "answer", "rationale")


@gin.configurable
def cot_data_dir(path: str | None = None) -> str:
  """Directory of the CoT TSV files (gin binding, else FLAN_COT_DIR)."""
  path = path or os.environ.get("FLAN_COT_DIR")
  if not path:
    raise ValueError("the Flan CoT data directory is not set: bind flan.mixtures.cot.cot_data_dir.path in gin "
                     "or set FLAN_COT_DIR to the folder holding <name>_train.tsv files")
  return path


def tsv_path(name: str) -> str:
  return os.path.join(cot_data_dir(), f"{name}_train.tsv")


def read_cot_rows(name: str) -> list[dict]:
  path = tsv_path(name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"CoT dataset {name!r}: file {path} does not exist (FLAN's cot_data/{name}_train.tsv; "
                            f"the directory comes from flan.mixtures.cot.cot_data_dir / FLAN_COT_DIR)")
  rows = sources.read_rows(path, "tsv", columns=COLUMNS)
  for row in rows:
    for column in COLUMNS:
      row[column] = row[column].replace("\\n", "\n").strip()
  return rows


def _spec(name: str) -> registration.DatasetSpec:
  source = sources.InMemorySource(f"cot_{name}", lambda split: read_cot_rows(name), ("train",))
  return registration.DatasetSpec(name=f"cot_{name}", source=source, family="cot")


def register() -> dict[str, list[str]]:
  tasks = {name: registration.register_dataset(_spec(name)) for name in DATASETS}
  for mixture, names in ((MIXTURE, DATASETS), (MIXTURE_7, WITHOUT_LARGE_FILES)):
    rates.register_mixture(mixture, [entry for name in names for entry in rates.dataset_rates(tasks[name], CAP)])
  return tasks


TASKS = register()
