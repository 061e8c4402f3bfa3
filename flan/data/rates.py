"""Mixing rates: examples-proportional with per-task caps, variant shares and submixture weights.

A dataset's rate is min(cap, number of train examples) (Flan Collection, Longpre et al. 2023); the
dataset's prompt variants share it equally, and input-inverted variants get an extra, lower share
(INVERTED_SHARE of the dataset's rate: 0.3 against 1, the weight google-research/FLAN flan/v2
mixtures.py gives its input-inversion submixtures CoT-II and Dialog-II). Rates are callables evaluated when a mixture is used, so
registering mixtures reads no data; they use the real number of examples of the downloaded data.

This equals the Flan Collection's per-variant caps: FLAN caps every task in each of its zero-/few-shot,
with/without-options suites at min(cap, examples) and mixes the suites equally, so a variant's share is
min(cap, examples) / (number of variants) relative to the other datasets, which is what splitting the
dataset's rate equally among its variants gives.
"""
import contextlib
import threading
from typing import Callable, Mapping, Sequence

import gin
import seqio

from flan.data import names as names_lib

# Per-task example caps of the Flan 2022 submixtures (Longpre et al. 2023, Section 3 / Table 3).
CAPS = {"muffin": 30_000, "t0sf": 20_000, "niv2": 5_000, "cot": 100_000,
        "dialog": 200_000}  # dialog: DEFAULT_MIXTURE_MAX_EXAMPLES of google-research/FLAN flan/v2 mixtures.py
# Submixture proportions (percent): A = Flan 2022 paper, B = the final Flan-T5 mixture (Chung et al. 2022).
PROPORTIONS = {
    "A": {"muffin": 52.0, "t0sf": 15.0, "niv2": 30.0, "cot": 3.0},
    "B": {"muffin": 46.0, "t0sf": 27.9, "niv2": 24.2, "cot": 1.8},
    # C = DEFAULT_MIXTURE_RATES of google-research/FLAN flan/v2 mixtures.py (FLAN 4, T0 3, CoT 1, NIv2 1,
    # Dialog 1), the only set with FLAN's fifth submixture, dialog.
    "C": {"muffin": 40.0, "t0sf": 30.0, "niv2": 10.0, "cot": 10.0, "dialog": 10.0},
}
INVERTED_SHARE = 0.3

Rate = Callable[[seqio.Task], float]


_count_override: Callable[[seqio.Task], int | None] | None = None
_count_generation = 0  # changes whenever the override does, so cached totals are not reused across it


@contextlib.contextmanager
def counts_from(lookup: Callable[[seqio.Task], int | None]):
  """Within the block, train-split sizes come from lookup(task) where it returns a number.

  For reports that work without the data (flan-data audit); training never sets it.
  """
  global _count_override, _count_generation
  previous = _count_override
  _count_override, _count_generation = lookup, _count_generation + 1
  try:
    yield
  finally:
    _count_override, _count_generation = previous, _count_generation + 1


def num_train_examples(task: seqio.Task, split: str = "train") -> int:
  """Number of examples in the task's source split; a clear error when the data is not there."""
  if _count_override is not None and split == "train":
    count = _count_override(task)
    if count is not None:
      return int(count)
  try:
    count = task.source.num_input_examples(split)
  except Exception as e:  # pylint: disable=broad-except  (tfds raises many kinds when data is absent)
    raise RuntimeError(f"cannot count the {split!r} examples of task {task.name!r} for its mixing rate: "
                       f"{type(e).__name__}: {e}. Is its dataset downloaded (tfds build / files present)?") from e
  if count is None:
    raise RuntimeError(f"task {task.name!r}: its source does not know its number of {split!r} examples")
  return int(count)


def capped_rate(cap: float | None, share: float = 1.0) -> Rate:
  """rate(task) = min(cap, number of train examples) * share (no cap when cap is None)."""
  def rate(task: seqio.Task) -> float:
    count = num_train_examples(task)
    return float(count if cap is None else min(cap, count)) * share
  rate.cap = cap
  rate.share = share
  return rate


def variant_shares(task_names: Sequence[str], inverted_share: float = INVERTED_SHARE) -> dict[str, float]:
  """Share of the dataset rate per variant task: main variants split 1.0, inverted ones get inverted_share."""
  inverted = [t for t in task_names if t.endswith(":inverted")]
  main = [t for t in task_names if t not in inverted]
  shares = {t: 1.0 / len(main) for t in main}
  shares.update({t: inverted_share / len(inverted) for t in inverted})
  return shares


def dataset_rates(task_names: Sequence[str], cap: float | None,
                  inverted_share: float = INVERTED_SHARE) -> list[tuple[str, Rate]]:
  """(task, rate) entries for the variant tasks of one dataset."""
  return [(t, capped_rate(cap, share)) for t, share in variant_shares(task_names, inverted_share).items()]


@gin.configurable
def flan2022_proportions(name: str = "B") -> Mapping[str, float]:
  """The submixture proportions of `flan2022` (gin: flan.data.rates.flan2022_proportions.name = "A")."""
  if name not in PROPORTIONS:
    raise ValueError(names_lib.unknown_name_message("proportion set", name, PROPORTIONS))
  return PROPORTIONS[name]


def weighted_rates(submixtures: Mapping[str, Sequence[tuple[str, Rate]]],
                   weights: Callable[[], Mapping[str, float]]) -> list[tuple[str, Rate]]:
  """Flattens submixtures into task rates: weight(sub) * rate(task) / total rate of sub.

  `weights` is called when rates are evaluated, so the proportions can come from gin bindings parsed
  after registration. Submixture totals are computed once per flattened mixture.
  """
  totals = {}
  lock = threading.Lock()
  task_rates = {sub: dict(entries) for sub, entries in submixtures.items()}

  def total(sub):
    with lock:
      key = (sub, _count_generation)
      if key not in totals:
        totals[key] = sum(rate(seqio.get_mixture_or_task(t)) for t, rate in task_rates[sub].items())
      return totals[key]

  def make_rate(sub, task_rate):
    def rate(task):
      weight = weights()
      if sub not in weight:
        raise ValueError(f"proportions {dict(weight)} have no weight for submixture {sub!r}")
      extra = sorted(set(weight) - set(submixtures))
      if extra:
        raise ValueError(f"proportions {dict(weight)} give weight to {extra}, which this mixture does not hold "
                         f"(its submixtures: {sorted(submixtures)}); use a mixture with them (e.g. flan2022_c)")
      sub_total = total(sub)
      return weight[sub] * task_rate(task) / sub_total if sub_total else 0.0
    return rate

  out = []
  for sub, entries in submixtures.items():
    out += [(task, make_rate(sub, task_rate)) for task, task_rate in entries]
  return out


def register_mixture(name: str, entries: Sequence[tuple[str, float | Rate]]) -> seqio.Mixture:
  """Registers (or replaces) a seqio mixture; entries name tasks or submixtures (numeric weight)."""
  registered = set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names())
  for entry, _ in entries:
    if entry not in registered:
      raise ValueError(f"mixture {name!r}: " + names_lib.unknown_name_message("task or mixture", entry, registered))
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  return seqio.MixtureRegistry.add(name, list(entries))
