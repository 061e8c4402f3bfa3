"""Results files: results.json and a markdown table in the column order of the paper's Table 5."""
import json
import pathlib

from flan import jsonl
from flan.evaluation import benchmarks


def _cell(value):
  return "—" if value is None else f"{value:.1f}"


def setup_line(setup):
  """One line of a benchmark's setup record: split, shots, languages, prompt source, decoding."""
  parts = [f"split {setup['split']}", f"{setup['shots']}-shot"]
  if "languages" in setup:
    parts.append(f"languages {', '.join(setup['languages'])}")
    if setup.get("languages_reported_apart"):
      parts.append(f"reported apart {', '.join(setup['languages_reported_apart'])}")
  parts.append(f"prompts {setup['prompt_source']}")
  decoding = setup.get("decoding") or {}
  parts.append("decoding " + ", ".join(f"{k}={v}" for k, v in decoding.items()))
  return "; ".join(parts) + "."


def markdown_table(results, model_name="model"):
  columns = ["Norm. avg."] + [benchmarks.COLUMN_TITLES[b] for b in benchmarks.BENCHMARKS]
  scores = [results["benchmarks"].get(b, {}).get("score") for b in benchmarks.BENCHMARKS]
  lines = ["| Model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|",
           f"| {model_name} | {_cell(results['normalized_average'])} | "
           + " | ".join(_cell(s) for s in scores) + " |"]
  if not results.get("complete"):
    lines.append("")
    lines.append(f"Normalized average over the benchmarks run only: {', '.join(results['normalized_average_over'])}.")
  lines.append("")
  lines.append("| Benchmark | Score | Random | Normalized | Prompts |")
  lines.append("|---|---|---|---|---|")
  for name in results["table_order"]:
    s = results["benchmarks"][name]
    lines.append(f"| {benchmarks.COLUMN_TITLES[name]} | {s['score']:.2f} | {s['random']:.2f} | "
                 f"{s['normalized']:.2f} | {s['count']} |")
  for name in results["table_order"]:
    s = results["benchmarks"][name]
    metric = s["primary_metric"]
    lines += ["", f"### {benchmarks.COLUMN_TITLES[name]} per subset ({metric})", "",
              "| Subset | Score | Prompts |", "|---|---|---|"]
    for subset, entry in s["per_subset"].items():
      marker = "" if subset in s["subsets_in_score"] else " (not in score)"
      lines.append(f"| {subset}{marker} | {entry[metric]:.2f} | {entry['count']} |")
    setup = results.get("setup", {}).get(name)
    if setup:
      lines += ["", "Setup: " + setup_line(setup)]
  if results.get("warnings"):
    lines += ["", "### Differences from the paper's setup", ""] + [f"- {w}" for w in results["warnings"]]
  lines += ["", f"Random scores: {results['random_score_source']}."]
  return "\n".join(lines) + "\n"


def write_results(results, records, output_dir, model_name="model"):
  """Writes results.json, results.md and scored_<benchmark>.jsonl; returns the paths."""
  output_dir = pathlib.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  json_path, md_path = output_dir / "results.json", output_dir / "results.md"
  json_path.write_text(json.dumps({"model": model_name, **results}, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
  md_path.write_text(markdown_table(results, model_name), encoding="utf-8")
  paths = [json_path, md_path]
  for name, rows in records.items():
    path = output_dir / f"scored_{name}.jsonl"
    jsonl.write_jsonl(path, rows)
    paths.append(path)
  return paths
