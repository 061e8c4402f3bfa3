"""report.html / report.png from a predictions file of the shared samples, beside the paper's Table 5."""
import base64
import html.parser
import io
import json

from PIL import Image

from flan.evaluation import cli
from flan.evaluation import paper_results


class _Page(html.parser.HTMLParser):
  """Collects <img src> and the text of every table cell."""

  def __init__(self):
    super().__init__()
    self.images, self.rows, self._cell = [], [], None

  def handle_starttag(self, tag, attrs):
    if tag == "img":
      self.images.append(dict(attrs)["src"])
    elif tag == "tr":
      self.rows.append([])
    elif tag in ("td", "th"):
      self._cell = ""

  def handle_endtag(self, tag):
    if tag in ("td", "th"):
      self.rows[-1].append(self._cell)
      self._cell = None

  def handle_data(self, data):
    if self._cell is not None:
      self._cell += data


def _decode_png(data):
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  image = Image.open(io.BytesIO(data))
  image.load()
  return image


def test_report_html_and_png(shared_data, tmp_path):
  flags = [f"--mmlu_dir={shared_data / 'mmlu_sample'}", f"--bbh_dir={shared_data / 'bbh_sample'}",
           f"--mgsm_dir={shared_data / 'mgsm_sample'}",
           f"--mmlu_cot_prompts={shared_data / 'mmlu_cot' / 'mmlu-cot.json'}",
           "--benchmarks=mmlu_direct,bbh_direct,mgsm", "--max_per_subset=4"]
  assert cli.main([*flags, f"--export_prompts={tmp_path / 'prompts'}"]) == 0
  with open(tmp_path / "pred.jsonl", "w", encoding="utf-8") as f:
    for name in ("mmlu_direct", "bbh_direct", "mgsm"):
      for index, line in enumerate((tmp_path / "prompts" / f"{name}.jsonl").read_text().splitlines()):
        record = json.loads(line)
        prediction = record["gold"] if index % 2 == 0 else "nothing"  # half right
        f.write(json.dumps({"id": record["id"], "prediction": prediction}) + "\n")
  out = tmp_path / "out"
  assert cli.main([*flags, f"--predictions={tmp_path / 'pred.jsonl'}", f"--output_dir={out}",
                   "--compare_to=flan-t5-xl", "--model_name=half-right"]) == 0
  results = json.loads((out / "results.json").read_text())
  png = _decode_png((out / "report.png").read_bytes())
  assert png.size[0] > 300 and png.size[1] > 200

  page = _Page()
  page.feed((out / "report.html").read_text(encoding="utf-8"))
  assert len(page.images) == 4  # summary + one per benchmark's subsets
  for src in page.images:
    assert src.startswith("data:image/png;base64,")
    _decode_png(base64.b64decode(src.split(",", 1)[1]))
  header, *rows = page.rows
  assert header == ["Benchmark", "Score", "Chance", "Normalized", "Prompts", "Paper (flan-t5-xl)", "Difference"]
  by_title = {row[0]: row for row in rows}
  paper = paper_results.lookup("flan-t5-xl")
  for title, name in (("MMLU Direct", "mmlu_direct"), ("BBH Direct", "bbh_direct"), ("MGSM CoT", "mgsm")):
    summary = results["benchmarks"][name]
    row = by_title[title]
    assert row[1] == f"{summary['score']:.1f}" and row[2] == f"{summary['random']:.1f}"
    assert row[5] == f"{paper[name]:.1f}" and row[6] == f"{summary['score'] - paper[name]:+.1f}"
  assert by_title["Normalized average"][3] == f"{results['normalized_average']:.1f}"
  assert 0.0 < results["benchmarks"]["mmlu_direct"]["score"] < 100.0
  text = (out / "report.html").read_text(encoding="utf-8")
  assert "Table 5" in text and "Differences from the paper's setup" in text


def test_paper_rows():
  xl = paper_results.lookup("Flan-T5-XL")
  assert xl["mmlu_direct"] == 52.4 and set(xl) == set(paper_results.COLUMNS)
  assert paper_results.lookup("flan_t5_xxl")["normalized_average"] == 23.7
