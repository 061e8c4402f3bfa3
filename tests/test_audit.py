"""flan-data audit: the composition of flan2022 from recorded counts, without downloaded data."""
import json

import pytest

from flan.data import audit
from flan.data import cli
from flan.data import rates


@pytest.fixture(scope="module")
def report_b():
  import os  # pylint: disable=import-outside-toplevel
  saved = {k: os.environ.pop(k) for k in ("FLAN_COT_DIR", "FLAN_P3_DIR") if k in os.environ}  # no data here
  yield audit.audit("flan2022", steps=84_000, batch=64)
  os.environ.update(saved)


def _row(report, dataset):
  rows = [row for row in report["datasets"] if row["dataset"] == dataset]
  assert len(rows) == 1, dataset
  return rows[0]


def test_submixture_shares_equal_the_configured_proportions(report_b):
  assert report_b["proportion_set"] == "B"
  shares = {sub["submixture"]: sub for sub in report_b["submixtures"]}
  assert set(shares) == {"muffin", "t0sf", "niv2", "cot"}
  for key, configured in rates.PROPORTIONS["B"].items():
    assert shares[key]["configured"] == configured
    assert shares[key]["ours"] == pytest.approx(configured, abs=0.1)
  assert shares["t0sf"]["datasets"] == 193 and shares["t0sf"]["tasks"] == 4 * 193 and shares["niv2"]["datasets"] == 1
  report_a = audit.audit("flan2022_a")
  for sub in report_a["submixtures"]:
    assert sub["ours"] == pytest.approx(rates.PROPORTIONS["A"][sub["submixture"]], abs=0.1)


def test_dataset_rows_follow_capped_examples_proportional_rates(report_b):
  mnli, cb, copa = (_row(report_b, name) for name in ("glue_mnli", "super_glue_cb", "super_glue_copa"))
  assert mnli["examples"] == 392_702 and mnli["counted_from"] == "table" and mnli["cap"] == 30_000
  # Same variants (options, inverted) -> the share ratio is the ratio of capped counts.
  assert mnli["share_of_mixture"] / cb["share_of_mixture"] == pytest.approx(30_000 / 250)
  assert copa["share_of_mixture"] / cb["share_of_mixture"] == pytest.approx(400 / 250)
  assert cb["epochs"] == pytest.approx(84_000 * 64 * cb["share_of_mixture"] / 250)
  fr_en = _row(report_b, "wmt14_translate_fr_en")  # both directions inside one capped rate
  assert {t.split(":")[0] for t in fr_en["tasks"]} == {"wmt14_translate_fr_en", "wmt14_translate_en_fr"}
  assert fr_en["share_of_mixture"] / cb["share_of_mixture"] == pytest.approx(30_000 / (250 * 1.3))
  assert cb["variant_shares"]["inverted"] == pytest.approx(0.3 / 1.3)
  amazon = _row(report_b, "p3_amazon_polarity_user_satisfied")
  assert amazon["examples"] == 3_600_000 and amazon["rate"] == 20_000
  niv2 = _row(report_b, "niv2")
  assert niv2["examples"] is None and niv2["share_of_mixture"] == pytest.approx(24.2 / 99.9)
  assert any("cot_esnli" in w for w in report_b["warnings"])


def test_heldout_rules_are_listed(report_b):
  assert [rule["name"] for rule in report_b["heldout_rules"]] == ["mmlu_answer_generation"]
  lines = audit.format_report(report_b)
  assert any(line.startswith("muffin ") and "46.00" in line for line in lines)
  assert any("mmlu_answer_generation" in line for line in lines)


def test_audit_command_json_and_errors(capsys, monkeypatch):
  monkeypatch.delenv("FLAN_COT_DIR", raising=False)
  assert cli.main(["audit", "flan2022", "--steps", "84000", "--batch", "64", "--json"]) == 0
  report = json.loads(capsys.readouterr().out)
  assert {s["submixture"]: round(s["ours"], 1) for s in report["submixtures"]} == {
      "muffin": 46.0, "t0sf": 27.9, "niv2": 24.2, "cot": 1.8}
  assert cli.main(["audit", "flan2022", "--steps", "10"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "--steps and --batch together" in err
  assert cli.main(["audit", "flan2022_mufin"]) == 2
  assert "closest registered names: flan2022_muffin" in capsys.readouterr().err
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["show", "flan2022", "-n", "-1"])
  assert exit_info.value.code == 2 and "must be positive, got -1" in capsys.readouterr().err


def test_list_shows_the_193_t0_sf_prompt_tasks(capsys):
  assert cli.main(["list", "--filter", "p3_*"]) == 0
  lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("task ")]
  assert len(lines) == 193 * 4 and "task     p3_cos_e_v1.11_i_think:fs_opt  [train,validation]" in lines


def test_markdown_summary_is_the_readme_table(report_b):
  lines = audit.markdown_summary(report_b)
  assert lines[0].startswith("| submixture | paper % | ours % |")
  assert any(line.startswith("| muffin | 46.0 | 46.0") for line in lines)
  assert any(line.startswith("| niv2 | niv2 | - | 24.22 |") for line in lines)


def test_dropped_examples_from_iterator_stats_appear_per_dataset():
  stats = {"glue_mnli": {"checked": 100, "dropped": 3}, "wmt14_translate_en_fr:zs": {"checked": 9, "dropped": 2},
           "unrelated": {"checked": 1, "dropped": 1}}
  report = audit.audit("flan2022_b", dropped=stats)
  assert _row(report, "glue_mnli")["dropped"] == 3
  assert _row(report, "wmt14_translate_fr_en")["dropped"] == 2  # a task of the pair's other direction
  assert _row(report, "super_glue_cb")["dropped"] is None
  assert any("dropped 3" in line for line in audit.format_report(report))
