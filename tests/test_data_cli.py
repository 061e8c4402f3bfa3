"""Tests for the flan-data command (flan.data.cli)."""
import json

import pytest

pytest.importorskip("seqio")

from flan.data import cli  # noqa: E402  pylint: disable=g-import-not-at-top

MODULE = ["--module", "data_cli_fixture_tasks"]


def _run(capsys, *argv):
  code = cli.main(MODULE + list(argv))
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_list_filters_names(capsys):
  code, out, _ = _run(capsys, "list", "--filter", "cli_fixture")
  assert code == 0
  assert "mixture  cli_fixture_mixture  (1 tasks)" in out
  assert "task     cli_fixture_addition  [train]" in out
  code, out, _ = _run(capsys, "list", "--filter", "cli_fixture_m*")
  assert "cli_fixture_mixture" in out and "cli_fixture_addition" not in out


def test_show_prints_rendered_text(capsys):
  code, out, _ = _run(capsys, "show", "cli_fixture_addition", "-n", "3")
  assert code == 0
  assert out.count("=== cli_fixture_addition example") == 3
  assert "Question: What is" in out and "\nAnswer:" in out
  assert "--- targets (" in out
  code, out, _ = _run(capsys, "show", "cli_fixture_mixture", "-n", "2")
  assert code == 0 and out.count("Question: ") == 2


def test_stats_reports_lengths_truncation_and_both_packers(capsys):
  code, out, _ = _run(capsys, "stats", "cli_fixture_addition", "--lengths", "64:2",
                      "--examples", "100")
  assert code == 0
  assert "13 examples" in out
  # Byte tokens + EOS: the long input has 10 + 306 + 8 + 1 = 325 tokens; the 7 two-digit answers
  # and "no" have 3 target tokens.
  assert "truncated (over length): inputs 1, targets 8 of 13 examples" in out
  lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
  assert lines["inputs"][-2] == "325"
  assert lines["seqio"][2].endswith("%") and lines["flan"][2].endswith("%")
  assert "examples/s" in out


def test_unknown_name_lists_closest(capsys):
  code, _, err = _run(capsys, "show", "cli_fixture_adition")
  assert code == 2
  assert "cli_fixture_addition" in err


def test_bad_lengths_and_module(capsys):
  with pytest.raises(SystemExit):
    cli.main(["stats", "x", "--lengths", "2048"])
  assert "INPUTS:TARGETS" in capsys.readouterr().err
  assert cli.main(["--module", "no_such_module_xyz", "list"]) == 2
  assert cli.main(["--module", "/nonexistent/tasks.py", "list"]) == 2


def test_module_by_file_path(capsys, tmp_path):
  path = tmp_path / "my_user_tasks.py"
  path.write_text("import seqio\n"
                  "from data_cli_fixture_tasks import VOCAB, _dataset_fn\n"
                  "if 'cli_fixture_user_file' not in seqio.TaskRegistry.names():\n"
                  "  seqio.TaskRegistry.add('cli_fixture_user_file', source=seqio.FunctionDataSource(\n"
                  "      _dataset_fn, splits=['train']), output_features={})\n")
  assert cli.main(["--module", str(path), "list", "--filter", "user_file"]) == 0
  assert "task     cli_fixture_user_file  [train]" in capsys.readouterr().out


def test_audit_of_a_plain_mixture_with_measured_packing(capsys):
  code, out, err = _run(capsys, "audit", "cli_fixture_mixture", "--steps", "10", "--batch", "2", "--measure", "13",
                        "--lengths", "256:16", "--json")
  assert code == 0, err
  report = json.loads(out)
  row, = report["datasets"]
  assert row["dataset"] == "cli_fixture_addition" and row["examples"] == 13 and row["share_of_mixture"] == 1.0
  # 13 examples (~37 input and 3 target tokens; one truncated) pack several to a 256:16 row.
  per_row = report["examples_per_row"]
  assert 1 < per_row <= 13 and row["epochs"] == pytest.approx(10 * 2 * per_row / 13)
