"""The contamination report of a scan result: per benchmark and subset, per training dataset, and the hits.

Per benchmark subset: items, items with any overlapping n-gram, their fraction, and the training datasets
responsible (with how many of the subset's items each overlaps). Per training dataset (all its variant
tasks together): examples scanned, examples that overlap any item. The hits file has one JSON line per
(item, training task) pair with the first overlapping example, the overlap marked [[like this]] in both texts.
"""
import json
import pathlib
from typing import Dict, List, Optional

from flan import jsonl
from flan.data import contamination_match as match


def _fraction(part: int, whole: int) -> float:
  return part / whole if whole else 0.0


def build_report(result: dict, hits_file: Optional[str] = None) -> dict:
  benchmarks: Dict[str, dict] = {name: {"items": 0, "overlapping": 0, "subsets": {}}
                                 for name in result["benchmarks"]}
  for key, size in sorted(result["subset_sizes"].items()):
    benchmark, subset = key.split("/", 1)
    entry = benchmarks.setdefault(benchmark, {"items": 0, "overlapping": 0, "subsets": {}})
    entry["items"] += size
    entry["subsets"][subset] = {"items": size, "overlapping": 0, "datasets": {}}
  for item_id, per_task in result["hits"].items():
    benchmark, subset = result["items"][item_id]
    subset_entry = benchmarks[benchmark]["subsets"][subset]
    subset_entry["overlapping"] += 1
    benchmarks[benchmark]["overlapping"] += 1
    for dataset in sorted({match.dataset_of(task) for task in per_task}):
      subset_entry["datasets"][dataset] = subset_entry["datasets"].get(dataset, 0) + 1
  for entry in benchmarks.values():
    entry["fraction"] = _fraction(entry["overlapping"], entry["items"])
    for subset_entry in entry["subsets"].values():
      subset_entry["fraction"] = _fraction(subset_entry["overlapping"], subset_entry["items"])
      subset_entry["datasets"] = dict(sorted(subset_entry["datasets"].items(), key=lambda kv: (-kv[1], kv[0])))
  datasets: Dict[str, dict] = {}
  for task, counts in sorted(result["tasks"].items()):
    entry = datasets.setdefault(match.dataset_of(task), {"examples": 0, "overlapping": 0, "tasks": {}})
    entry["examples"] += counts["examples"]
    entry["overlapping"] += counts["overlapping"]
    entry["tasks"][task] = dict(counts)
  for entry in datasets.values():
    entry["fraction"] = _fraction(entry["overlapping"], entry["examples"])
  return {"mixture": result["mixture"], "split": result["split"], "n": result["n"],
          "max_examples_per_task": result["max_examples"], "index": result["index"],
          "benchmarks": benchmarks, "datasets": datasets,
          "items_overlapping": sum(b["overlapping"] for b in benchmarks.values()),
          "items": sum(b["items"] for b in benchmarks.values()),
          "examples_scanned": sum(d["examples"] for d in datasets.values()),
          "examples_overlapping": sum(d["overlapping"] for d in datasets.values()),
          "hits_file": hits_file}


def hit_records(result: dict) -> List[dict]:
  """One record per (item, task): the first overlapping example of the task, overlaps marked."""
  records = []
  for item_id in sorted(result["samples"]):
    benchmark, subset = result["items"][item_id]
    for task, sample in sorted(result["samples"][item_id].items()):
      records.append({"item": item_id, "benchmark": benchmark, "subset": subset,
                      "dataset": match.dataset_of(task), "task": task,
                      "examples_overlapping": result["hits"][item_id][task],
                      "example_index": sample["example_index"], "item_text": sample["item"],
                      "inputs": sample["inputs"], "targets": sample["targets"]})
  return records


def write_hits(result: dict, path) -> int:
  records = hit_records(result)
  path = pathlib.Path(path)
  partial = path.with_name(path.name + ".partial")
  jsonl.write_jsonl(partial, records)
  partial.replace(path)
  return len(records)


def _percent(x: float) -> str:
  return f"{100 * x:.2f}%"


def _responsible(datasets: Dict[str, int], limit: int = 4) -> str:
  shown = [f"{name} ({count})" for name, count in list(datasets.items())[:limit]]
  if len(datasets) > limit:
    shown.append(f"+{len(datasets) - limit} more")
  return ", ".join(shown)


def format_table(report: dict) -> List[str]:
  cap = report["max_examples_per_task"]
  lines = [f"contamination of {report['mixture']} (split {report['split']}, {report['n']}-gram overlap"
           f"{f', first {cap} examples per task' if cap else ''}) against "
           f"{', '.join(report['benchmarks'])}", "",
           f"{'benchmark / subset':<40} {'items':>7} {'overlap':>8} {'fraction':>9}  training datasets (items)"]
  for benchmark, entry in report["benchmarks"].items():
    lines.append(f"{benchmark:<40} {entry['items']:>7d} {entry['overlapping']:>8d} "
                 f"{_percent(entry['fraction']):>9}")
    for subset, sub in entry["subsets"].items():
      lines.append(f"  {subset:<38} {sub['items']:>7d} {sub['overlapping']:>8d} {_percent(sub['fraction']):>9}"
                   f"  {_responsible(sub['datasets'])}".rstrip())
  lines += ["", f"{'training dataset':<40} {'examples':>9} {'overlap':>8} {'fraction':>9}"]
  for dataset, entry in sorted(report["datasets"].items(), key=lambda kv: (-kv[1]["overlapping"], kv[0])):
    lines.append(f"{dataset:<40} {entry['examples']:>9d} {entry['overlapping']:>8d} "
                 f"{_percent(entry['fraction']):>9}")
  lines += ["", f"{report['items_overlapping']} of {report['items']} evaluation items overlap; "
            f"{report['examples_overlapping']} of {report['examples_scanned']} training examples overlap"]
  if report.get("hits_file"):
    lines.append(f"an example of each hit (overlap marked [[...]]): {report['hits_file']}")
  return lines


def format_json(report: dict) -> str:
  return json.dumps(report, indent=2, ensure_ascii=False)
