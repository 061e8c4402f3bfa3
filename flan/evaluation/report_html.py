"""report.html (self-contained: figures embedded as base64 PNG) and report.png from a results dictionary.

The page holds the scores beside the paper's Table 5 row for --compare_to, chance scores, the normalized
average, per-subset charts (MMLU by subject, BBH by task, languages), the setup of every benchmark and the
ways it differs from the paper's.
"""
import base64
import html
import pathlib

from flan.evaluation import benchmarks
from flan.evaluation import paper_results
from flan.evaluation import plots
from flan.evaluation import report

_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
          "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
          ".warn{background:#fff4e5;border-left:4px solid #f0a030;padding:6px 10px}"
          "img{max-width:100%}")


def _fmt(value):
  return "—" if value is None else f"{value:.1f}"


def summary_figure(results, model_name, compare_to=None):
  names = results["table_order"]
  paper = paper_results.lookup(compare_to) if compare_to else None
  title = f"{model_name}: normalized average {results['normalized_average']:.1f}"
  if paper:
    title += f" (paper {compare_to}: {paper['normalized_average']:.1f})"
  if not results.get("complete"):
    title += f"\nover {', '.join(names)} only"
  return plots.benchmark_bars(
      [benchmarks.COLUMN_TITLES[n] for n in names], [results["benchmarks"][n]["score"] for n in names],
      [results["benchmarks"][n]["random"] for n in names],
      paper={i: paper[n] for i, n in enumerate(names)} if paper else None,
      paper_label=f"paper: {compare_to}" if paper else None, title=title)


def subset_figure(results, name):
  summary = results["benchmarks"][name]
  metric = summary["primary_metric"]
  subsets = list(summary["per_subset"])
  apart = [s for s in subsets if s not in summary["subsets_in_score"]]
  return plots.subset_bars(subsets, [summary["per_subset"][s][metric] for s in subsets],
                           [summary["per_subset"][s]["chance"] for s in subsets],
                           f"{benchmarks.COLUMN_TITLES[name]} per subset ({metric}); score {summary['score']:.1f}",
                           apart=apart)


def _image(png, alt):
  return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _score_table(results, compare_to):
  paper = paper_results.lookup(compare_to) if compare_to else None
  head = ["Benchmark", "Score", "Chance", "Normalized", "Prompts"] + ([f"Paper ({compare_to})", "Difference"]
                                                                      if paper else [])
  rows = []
  for name in results["table_order"]:
    s = results["benchmarks"][name]
    cells = [benchmarks.COLUMN_TITLES[name], _fmt(s["score"]), _fmt(s["random"]), _fmt(s["normalized"]),
             str(s["count"])]
    if paper:
      cells += [_fmt(paper[name]), f"{s['score'] - paper[name]:+.1f}"]
    rows.append(cells)
  average = ["Normalized average", "", "", _fmt(results["normalized_average"]), ""]
  if paper:
    average += [_fmt(paper["normalized_average"]),
                f"{results['normalized_average'] - paper['normalized_average']:+.1f}"]
  rows.append(average)
  lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
  lines += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
  return "\n".join(lines + ["</table>"])


def render_html(results, model_name, figures, compare_to=None):
  """The page as a string; figures is [(caption, png bytes)]."""
  parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(model_name)}: "
           f"held-out evaluation</title><style>{_STYLE}</style></head><body>",
           f"<h1>{html.escape(model_name)}: held-out evaluation</h1>", _score_table(results, compare_to)]
  if not results.get("complete"):
    parts.append(f"<p>Normalized average over {html.escape(', '.join(results['normalized_average_over']))} "
                 "only (not all six benchmarks were run).</p>")
  if compare_to:
    parts.append(f"<p>Paper numbers: {html.escape(paper_results.SOURCE)}.</p>")
  if results.get("warnings"):
    parts.append("<h2>Differences from the paper's setup</h2><div class='warn'><ul>"
                 + "".join(f"<li>{html.escape(w)}</li>" for w in results["warnings"]) + "</ul></div>")
  parts.append("<h2>Setup</h2><ul>")
  for name in results["table_order"]:
    setup = results.get("setup", {}).get(name)
    if setup:
      parts.append(f"<li><b>{html.escape(benchmarks.COLUMN_TITLES[name])}</b>: "
                   f"{html.escape(report.setup_line(setup))}</li>")
  parts.append("</ul>")
  for caption, png in figures:
    parts.append(f"<h2>{html.escape(caption)}</h2>{_image(png, caption)}")
  parts.append(f"<p>Chance scores: {html.escape(results['random_score_source'])}.</p></body></html>")
  return "\n".join(parts) + "\n"


def write_report(results, output_dir, model_name="model", compare_to=None):
  """Writes report.html and report.png (the summary chart); returns their paths."""
  output_dir = pathlib.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  summary_png = plots.png_bytes(summary_figure(results, model_name, compare_to))
  figures = [("Scores" + (f" beside the paper's {compare_to}" if compare_to else ""), summary_png)]
  for name in results["table_order"]:
    figures.append((f"{benchmarks.COLUMN_TITLES[name]} by subset", plots.png_bytes(subset_figure(results, name))))
  png_path, html_path = output_dir / "report.png", output_dir / "report.html"
  png_path.write_bytes(summary_png)
  html_path.write_text(render_html(results, model_name, figures, compare_to), encoding="utf-8")
  return [html_path, png_path]
