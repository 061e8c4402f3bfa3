"""What a mixture trains on: one row per dataset (and per submixture), from data or recorded counts.

  report = audit("flan2022", steps=84_000, batch=64)
  print("\n".join(format_report(report)))

Examples available come from the data when it is present (prepared TFDS metadata, CoT files) and
otherwise from the recorded tables (flan.data.recorded_counts, and P3's constants_t0 counts), so the
report runs before anything is downloaded. Shares are computed from each task's capped rate
(min(cap, examples) times its variant share); the submixture shares are also computed through the
mixture's own rate functions, so they show what seqio will sample, next to the paper's proportions.
Expected epochs = steps x batch x examples per packed row x share / examples; with the default of
one example per row this is a lower bound (packed rows hold several examples).
"""
import dataclasses
from typing import Mapping

import seqio

from flan import errors
from flan.data import names as names_lib
from flan.data import niv2_heldout
from flan.data import rates
from flan.data import recorded_counts
from flan.data import registration

EPOCH_FLAG = 10.0
# flan2022 mixtures and the proportion set each uses (None: the one chosen in gin).
FLAN2022_MIXTURES = {"flan2022": None, "flan2022_a": "A", "flan2022_b": "B", "flan2022_c": "C"}
PROPORTION_SOURCES = {"A": "Longpre et al. 2023 (Flan Collection)", "B": "Chung et al. 2022 (final Flan-T5 mixture)",
                      "C": "google-research/FLAN flan/v2 mixtures.py DEFAULT_MIXTURE_RATES"}
VARIANT_KEYS = ("zs", "fs", "opt", "noopt", "cot", "inverted")


@dataclasses.dataclass
class DatasetRow:
  submixture: str
  dataset: str
  tasks: list
  examples: int | None
  counted_from: str  # "data", "table" or "unknown"
  at_least: bool
  cap: float | None
  rate: float | None
  share_of_submixture: float | None
  share_of_mixture: float | None
  epochs: float | None
  variant_shares: dict
  dropped: int | None = None


def _variant_keys(task_name: str) -> tuple[str, ...]:
  suffix = task_name.rsplit(":", 1)[1] if ":" in task_name else "zs"
  if suffix == "inverted":
    return ("inverted",)
  keys = ["fs" if suffix.startswith("fs") or suffix == "cot_fs" else "zs"]
  if suffix.endswith("_opt"):
    keys.append("opt")
  elif suffix.endswith("_noopt"):
    keys.append("noopt")
  if suffix.startswith("cot"):
    keys.append("cot")
  return tuple(keys)


def _dataset_names() -> dict[str, str]:
  """Task name -> the dataset (rate group) it is capped with."""
  try:
    from flan.mixtures import muffin  # pylint: disable=import-outside-toplevel
    group_of = muffin.rate_group_of
  except ImportError:
    group_of = lambda name: name
  out = {}
  for dataset, (_, tasks) in registration.DATASETS.items():
    for task in tasks:
      out[task] = group_of(dataset)
  return out


def _member_datasets(task_name: str) -> str:
  return task_name.split(":")[0]


def _prepared_tfds_size(source: seqio.TfdsDataSource) -> int | None:
  """The train size of a prepared TFDS dataset, read from a fresh builder: seqio memoizes the builders
  it makes, and one made while the data is absent would keep saying so for the rest of the process."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  loader = source.tfds_dataset
  try:
    return int(tfds.builder(loader.name, data_dir=loader.data_dir).info.splits["train"].num_examples)
  except Exception:  # pylint: disable=broad-except  (not prepared: tfds raises many kinds)
    return None


def count_examples(task: seqio.Task) -> tuple[int | None, str, bool]:
  """(train examples, where the number comes from, whether it is only a lower bound)."""
  if isinstance(task.source, seqio.TfdsDataSource):
    count = _prepared_tfds_size(task.source)
  else:
    try:
      count = task.source.num_input_examples("train")
    except Exception:  # pylint: disable=broad-except  (absent data raises many kinds)
      count = None
  if count is not None:
    from flan.data import p3  # pylint: disable=import-outside-toplevel
    return int(count), "table" if isinstance(task.source, p3.P3Source) else "data", False
  recorded = recorded_counts.TRAIN.get(_member_datasets(task.name))
  if recorded is not None:
    return recorded.count, "table", recorded.at_least
  return None, "unknown", False


def _proportion_set(name: str) -> str:
  chosen = FLAN2022_MIXTURES[name]
  if chosen is not None:
    return chosen
  current = dict(rates.flan2022_proportions())
  for key, proportions in rates.PROPORTIONS.items():
    if dict(proportions) == current:
      return key
  raise errors.ConfigError(f"the gin-chosen flan2022 proportions {current} are not a known set")


def _structure(name: str):
  """(submixture key -> seqio mixture, submixture key -> weight, proportion set or None)."""
  if name not in seqio.MixtureRegistry.names():
    from flan.data import examples  # pylint: disable=import-outside-toplevel
    examples.import_registrations()
  mixture = names_lib.get_mixture(name)
  if name in FLAN2022_MIXTURES:
    from flan.mixtures import flan2022  # pylint: disable=import-outside-toplevel
    chosen = _proportion_set(name)
    structure = flan2022.SUBMIXTURES_C if "dialog" in rates.PROPORTIONS[chosen] else flan2022.SUBMIXTURES
    subs = {key: seqio.get_mixture_or_task(sub) for key, sub in structure.items()}
    return subs, dict(rates.PROPORTIONS[chosen]), chosen
  return {name: mixture}, {name: 100.0}, None


def _task_rate(rate, task, count) -> float | None:
  if isinstance(rate, (int, float)):
    return float(rate)
  if hasattr(rate, "cap"):
    if count is None:
      return None
    return float(count if rate.cap is None else min(rate.cap, count)) * rate.share
  try:
    with rates.counts_from(lambda t: count if t.name == task.name else None):
      return float(rate(task))
  except Exception:  # pylint: disable=broad-except  (a rate that needs absent data)
    return None


def _submixture_shares_from_rates(name: str, counts: Mapping[str, int | None], subs) -> dict[str, float]:
  """Each submixture's share of `name` as seqio samples it, through the mixture's own rate functions.

  Tasks without any count use 1: a submixture's total share does not depend on its tasks' counts.
  """
  mixture = seqio.get_mixture_or_task(name)
  with rates.counts_from(lambda task: counts.get(task.name) or 1):
    task_rates = {task.name: mixture.get_rate(task) for task in mixture.tasks}
  total = sum(task_rates.values())
  out = {}
  for key, sub in subs.items():
    out[key] = 100.0 * sum(task_rates.get(task.name, 0.0) for task in sub.tasks) / total if total else 0.0
  return out


def _dropped_for(dropped: Mapping[str, object] | None, dataset: str, tasks) -> int | None:
  """Examples dropped for a row, summed over the keys naming its dataset, a member dataset or a task.

  Values are counts, or {"dropped": n, ...} entries as flan.data.decontaminate.dropped_counts() and
  BatchIterator.stats()["decontamination"] give them.
  """
  if not dropped:
    return None
  names = {dataset, *tasks, *(_member_datasets(t) for t in tasks)}
  total, found = 0, False
  for key, value in dropped.items():
    if key in names:
      found = True
      total += int(value["dropped"] if isinstance(value, Mapping) else value)
  return total if found else None


def audit(name: str, *, steps: int | None = None, batch: int | None = None, examples_per_row: float = 1.0,
          dropped: Mapping[str, object] | None = None) -> dict:
  """The composition report of mixture `name` (see the module docstring). `dropped` optionally gives
  examples dropped while reading, per dataset or task name (e.g. BatchIterator.stats()["decontamination"]),
  shown as a column."""
  for label, value in (("steps", steps), ("batch", batch), ("examples per row", examples_per_row)):
    if value is not None and value <= 0:
      raise errors.ConfigError(f"audit: {label} must be positive, got {value}")
  subs, weights, proportion_set = _structure(name)
  dataset_of = _dataset_names()
  weight_total = sum(weights.values())
  drawn = steps * batch * examples_per_row if steps and batch else None
  rows, counts, warnings = [], {}, []
  for key, sub in subs.items():
    groups: dict[str, list] = {}
    for task in sub.tasks:
      groups.setdefault(dataset_of.get(task.name, task.name), []).append(task)
    group_rates, group_info = {}, {}
    for dataset, tasks in groups.items():
      count, origin, at_least = count_examples(tasks[0])
      for task in tasks:
        counts[task.name] = count
      per_task = {t.name: _task_rate(sub._task_to_rate[t.name], t, count) for t in tasks}  # pylint: disable=protected-access
      group_rates[dataset] = per_task
      group_info[dataset] = (count, origin, at_least, tasks)
    known = [d for d, r in group_rates.items() if None not in r.values()]
    unknown = sorted(set(group_rates) - set(known))
    if unknown:
      effect = ("its expected epochs" if len(group_rates) == 1 else
                "the dataset shares inside this submixture (not the submixture's share)")
      warnings.append(f"{key}: no count for {', '.join(unknown)} (not downloaded, not in the recorded table); "
                      f"{effect} are unknown until the data is present")
    sub_total = sum(sum(group_rates[d].values()) for d in known) if not unknown else None
    if unknown and len(group_rates) == 1:  # a lone dataset is all of its submixture whatever its size
      sub_total = None
    weight = weights[key] / weight_total
    for dataset, (count, origin, at_least, tasks) in group_info.items():
      per_task = group_rates[dataset]
      rate = sum(per_task.values()) if None not in per_task.values() else None
      if len(group_info) == 1:
        share_sub = 1.0
      else:
        share_sub = rate / sub_total if rate is not None and sub_total else None
      share_mix = weight * share_sub if share_sub is not None else None
      epochs = drawn * share_mix / count if drawn and share_mix is not None and count else None
      # Within a dataset every task has the same count and cap, so its variant shares are its rate shares.
      task_shares = {t.name: getattr(sub._task_to_rate[t.name], "share", per_task[t.name])  # pylint: disable=protected-access
                     for t in tasks}
      share_total = sum(s for s in task_shares.values() if s is not None)
      variant = {k: 0.0 for k in VARIANT_KEYS}
      for task_name, task_share in task_shares.items():
        for variant_key in _variant_keys(task_name):
          variant[variant_key] += (task_share or 0.0) / share_total if share_total else 0.0
      rows.append(DatasetRow(
          submixture=key, dataset=dataset, tasks=[t.name for t in tasks], examples=count, counted_from=origin,
          at_least=at_least, cap=getattr(sub._task_to_rate[tasks[0].name], "cap", None),  # pylint: disable=protected-access
          rate=rate, share_of_submixture=share_sub, share_of_mixture=share_mix, epochs=epochs,
          variant_shares=variant, dropped=_dropped_for(dropped, dataset, [t.name for t in tasks])))
  measured = _submixture_shares_from_rates(name, counts, subs)
  submixtures = []
  for key in subs:
    in_sub = [r for r in rows if r.submixture == key]
    submixtures.append({
        "submixture": key, "configured": weights[key] if proportion_set else 100.0, "ours": measured[key],
        "datasets": len(in_sub), "tasks": sum(len(r.tasks) for r in in_sub),
        "examples": sum(r.examples for r in in_sub if r.examples is not None),
        "datasets_without_count": sum(r.examples is None for r in in_sub)})
  overall = {k: 0.0 for k in VARIANT_KEYS}
  for row in rows:
    if row.share_of_mixture:
      for k in VARIANT_KEYS:
        overall[k] += row.share_of_mixture * row.variant_shares[k]
  return {
      "mixture": name, "proportion_set": proportion_set,
      "proportion_source": PROPORTION_SOURCES.get(proportion_set), "steps": steps, "batch": batch,
      "examples_per_row": examples_per_row, "examples_drawn": drawn, "submixtures": submixtures,
      "datasets": [dataclasses.asdict(r) for r in rows], "variant_shares": overall,
      "over_epoch_flag": sorted(r.dataset for r in rows if r.epochs is not None and r.epochs > EPOCH_FLAG),
      "heldout_rules": [dataclasses.asdict(rule) for rule in niv2_heldout.RULES], "warnings": warnings,
  }


def measure_examples_per_row(name: str, feature_lengths: Mapping[str, int], count: int = 2000,
                             seed: int = 0) -> float:
  """Examples per packed row of `name`, measured by packing `count` of its examples (needs the data)."""
  from flan.data import stats  # pylint: disable=import-outside-toplevel
  read = stats.read_examples(name, split="train", feature_lengths=feature_lengths, count=count, seed=seed)
  if not read.examples:
    raise errors.InputError(f"audit: {name} yielded no train examples to measure the packing with")
  packed = stats.pack_with_flan(read.examples, feature_lengths, seed=seed)
  return packed.examples / packed.rows


def _pct(value) -> str:
  return "-" if value is None else f"{100 * value:.2f}"


def format_report(report: dict) -> list[str]:
  """The report as text lines (tables of submixtures and datasets, flags, held-out rules)."""
  out = [f"mixture {report['mixture']}"]
  if report["proportion_set"]:
    out[0] += f" (proportions {report['proportion_set']}: {report['proportion_source']})"
  if report["examples_drawn"]:
    out.append(f"{report['steps']:,} steps x batch {report['batch']} x {report['examples_per_row']:g} examples per "
               f"packed row = {report['examples_drawn']:,.0f} examples drawn")
  out += ["", f"{'submixture':<12} {'paper %':>8} {'ours %':>8} {'datasets':>9} {'tasks':>6} {'examples':>13}"]
  for sub in report["submixtures"]:
    missing = f"  ({sub['datasets_without_count']} without a count)" if sub["datasets_without_count"] else ""
    out.append(f"{sub['submixture']:<12} {sub['configured']:>8.2f} {sub['ours']:>8.2f} {sub['datasets']:>9} "
               f"{sub['tasks']:>6} {sub['examples']:>13,}{missing}")
  shares = report["variant_shares"]
  out += ["", "variant shares of the mixture: " + ", ".join(f"{k} {100 * shares[k]:.1f}%" for k in VARIANT_KEYS)]
  header = (f"{'submixture':<10} {'dataset':<44} {'examples':>11} {'from':<7} {'cap':>7} {'% sub':>6} "
            f"{'% mix':>6} {'epochs':>7}  zs/fs/opt/noopt/cot/inv %")
  out += ["", header]
  for row in report["datasets"]:
    examples = "-" if row["examples"] is None else f"{'>=' if row['at_least'] else ''}{row['examples']:,}"
    cap = "-" if row["cap"] is None else f"{row['cap']:,.0f}"
    epochs = "-" if row["epochs"] is None else f"{'<=' if row['at_least'] else ''}{row['epochs']:.2f}"
    variant = "/".join(f"{100 * row['variant_shares'][k]:.0f}" for k in VARIANT_KEYS)
    line = (f"{row['submixture']:<10} {row['dataset'][:44]:<44} {examples:>11} {row['counted_from']:<7} {cap:>7} "
            f"{_pct(row['share_of_submixture']):>6} {_pct(row['share_of_mixture']):>6} {epochs:>7}  {variant}")
    if row["dropped"] is not None:
      line += f"  dropped {row['dropped']}"
    out.append(line)
  if report["over_epoch_flag"]:
    out += ["", f"seen more than {EPOCH_FLAG:g} times in this run: " + ", ".join(report["over_epoch_flag"])]
  out += ["", "held-out tasks removed from NIv2:"]
  out += [f"  {rule['name']}: {rule['pattern']} ({rule['reason']}; {rule['source']})" for rule in report["heldout_rules"]]
  out += [f"warning: {w}" for w in report["warnings"]]
  return out


def markdown_summary(report: dict, top: int = 12) -> list[str]:
  """A markdown table of the submixtures and the datasets with the largest shares (for the README)."""
  out = [f"| submixture | paper % | ours % | datasets | tasks | examples (known) |", "|---|---:|---:|---:|---:|---:|"]
  for sub in report["submixtures"]:
    unknown = f" (+{sub['datasets_without_count']} without a count)" if sub["datasets_without_count"] else ""
    out.append(f"| {sub['submixture']} | {sub['configured']:.1f} | {sub['ours']:.2f} | {sub['datasets']} | "
               f"{sub['tasks']} | {sub['examples']:,}{unknown} |")
  rows = sorted((r for r in report["datasets"] if r["share_of_mixture"] is not None),
                key=lambda r: -r["share_of_mixture"])[:top]
  out += ["", "| dataset | submixture | examples | % of mixture | expected epochs |", "|---|---|---:|---:|---:|"]
  for row in rows:
    examples = "-" if row["examples"] is None else f"{'>=' if row['at_least'] else ''}{row['examples']:,}"
    epochs = "-" if row["epochs"] is None else f"{'<=' if row['at_least'] else ''}{row['epochs']:.2f}"
    out.append(f"| {row['dataset']} | {row['submixture']} | {examples} | {100 * row['share_of_mixture']:.2f} | "
               f"{epochs} |")
  shares = report["variant_shares"]
  out += ["", "Variant shares (of the examples with a known share): " +
          ", ".join(f"{k} {100 * shares[k]:.1f}%" for k in VARIANT_KEYS) + "."]
  return out
