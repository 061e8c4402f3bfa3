"""Matplotlib figures (no pyplot, no display: figures render through the Agg canvas) as PNG bytes."""
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

OURS_COLOR = "#1f77b4"
PAPER_COLOR = "#bbbbbb"
CHANCE_COLOR = "#d62728"


def png_bytes(figure):
  FigureCanvasAgg(figure)
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
  return buffer.getvalue()


def benchmark_bars(titles, scores, chance, paper=None, paper_label=None, title=""):
  """Grouped bars: our score per benchmark, the paper's beside it (when given), a chance tick per benchmark."""
  figure = Figure(figsize=(max(6.0, 1.3 * len(titles) + 2), 4.2))
  axes = figure.add_subplot()
  width = 0.38 if paper else 0.6
  positions = list(range(len(titles)))
  ours_x = [p - width / 2 for p in positions] if paper else positions
  bars = axes.bar(ours_x, scores, width, color=OURS_COLOR, label="this run")
  axes.bar_label(bars, fmt="%.1f", fontsize=8)
  if paper:
    values = [paper.get(i) for i in range(len(titles))]
    kept = [(p + width / 2, v) for p, v in zip(positions, values) if v is not None]
    paper_bars = axes.bar([x for x, _ in kept], [v for _, v in kept], width, color=PAPER_COLOR,
                          label=paper_label)
    axes.bar_label(paper_bars, fmt="%.1f", fontsize=8)
  for position, value in zip(positions, chance):
    axes.hlines(value, position - 0.45, position + 0.45, colors=CHANCE_COLOR, linestyles="dashed",
                label="chance" if position == 0 else None)
  axes.set_xticks(positions, titles, fontsize=9)
  axes.set_ylabel("score (%)")
  tallest = max(list(scores) + list(chance) + [v for v in (paper or {}).values() if v is not None] + [10.0])
  axes.set_ylim(0, min(105.0, tallest * 1.25 + 2))
  axes.set_title(title, fontsize=10)
  axes.legend(fontsize=8, loc="upper right")
  return figure


def subset_bars(subsets, scores, chance, title, apart=()):
  """Horizontal bars, one per subset (MMLU subject, BBH task, language), chance marks; `apart` hatched."""
  figure = Figure(figsize=(7.5, max(2.5, 0.24 * len(subsets) + 1.2)))
  axes = figure.add_subplot()
  rows = list(range(len(subsets)))
  colors = [PAPER_COLOR if s in apart else OURS_COLOR for s in subsets]
  axes.barh(rows, scores, color=colors)
  for row, value in zip(rows, chance):
    axes.vlines(value, row - 0.45, row + 0.45, colors=CHANCE_COLOR, linestyles="dashed",
                label="chance" if row == 0 else None)
  labels = [f"{s} (not in score)" if s in apart else s for s in subsets]
  axes.set_yticks(rows, labels, fontsize=7)
  axes.invert_yaxis()
  axes.set_xlim(0, 100)
  axes.set_xlabel("score (%)")
  axes.set_title(title, fontsize=10)
  axes.legend(fontsize=8, loc="lower right")
  return figure


def run_curves(panels, title="", marks=()):
  """One small line plot per panel: panels is [(panel title, {series label: ([steps], [values])})];
  marks are steps drawn as dotted vertical lines (resumes)."""
  columns = 2
  rows = max(1, -(-len(panels) // columns))
  figure = Figure(figsize=(11, 3.0 * rows))
  figure.suptitle(title, fontsize=11)
  for index, (panel_title, series) in enumerate(panels):
    axes = figure.add_subplot(rows, columns, index + 1)
    for label, (steps, values) in series.items():
      axes.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=3, label=label)
    for step in marks:
      axes.axvline(step, color="#888888", linestyle=":", linewidth=1)
    axes.set_title(panel_title, fontsize=9)
    axes.set_xlabel("step", fontsize=8)
    axes.tick_params(labelsize=7)
    if len(series) > 1 or next(iter(series)) != panel_title:
      axes.legend(fontsize=7)
  figure.tight_layout()
  return figure
