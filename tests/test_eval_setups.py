"""The paper's evaluation setups: published MMLU CoT exemplars, MMLU split, MGSM/TyDiQA languages, setup record."""
import json
import shutil

import pytest

from flan.errors import ConfigError
from flan.evaluation import benchmarks
from flan.evaluation import cli
from flan.evaluation import runner
from flan.evaluation import setups


def _mmlu_with_validation(shared_data, tmp_path):
  """The MMLU sample plus a data/val/ split holding the first two test questions of every subject."""
  root = tmp_path / "mmlu"
  shutil.copytree(shared_data / "mmlu_sample" / "data", root / "data")
  (root / "data" / "val").mkdir()
  for test_file in (root / "data" / "test").glob("*_test.csv"):
    lines = test_file.read_text(encoding="utf-8").splitlines(keepends=True)[:2]
    (root / "data" / "val" / test_file.name.replace("_test.csv", "_val.csv")).write_text("".join(lines),
                                                                                           encoding="utf-8")
  return root


def test_mmlu_cot_prompts_hold_the_published_exemplars(shared_data):
  cot_file = shared_data / "mmlu_cot" / "mmlu-cot.json"
  published = json.loads(cot_file.read_text(encoding="utf-8"))
  dirs = benchmarks.DataDirs(mmlu_dir=str(shared_data / "mmlu_sample"), mmlu_cot_prompts=str(cot_file))
  (examples, source), = runner.collect_examples(["mmlu_cot"], dirs).values()
  assert source == str(cot_file)
  subjects = {e.subset for e in examples}
  assert subjects == {"abstract_algebra", "college_physics", "high_school_geography", "marketing"}
  for example in examples:
    exemplars = published[example.subset].rstrip()
    assert exemplars.count("The answer is (") == 5
    position = example.prompt.index(exemplars)
    question_start = example.prompt.rindex("\n\nQ: ") + 2
    assert position == 0 and position + len(exemplars) <= question_start
    assert example.prompt.endswith("A: Let's think step by step.")


def test_mmlu_cot_fallback_is_recorded_as_a_warning(shared_data, tmp_path):
  predictions = tmp_path / "p.jsonl"
  dirs = benchmarks.DataDirs(mmlu_dir=str(shared_data / "mmlu_sample"))
  (examples, source), = runner.collect_examples(["mmlu_cot"], dirs).values()
  assert source == "answer-only fallback"
  predictions.write_text("".join(json.dumps({"id": e.id, "prediction": "(A)"}) + "\n" for e in examples))
  results, _ = runner.run(["mmlu_cot"], dirs, predictions_path=str(predictions))
  assert results["setup"]["mmlu_cot"]["prompt_source"] == "answer-only fallback"
  assert any("answer-only fallback" in w and "not comparable" in w for w in results["warnings"])


def test_mmlu_split_switch(shared_data, tmp_path):
  root = _mmlu_with_validation(shared_data, tmp_path)
  dirs = benchmarks.DataDirs(mmlu_dir=str(root))
  test_examples, _ = benchmarks.build_examples("mmlu_direct", dirs)
  val_setup = setups.EvalSetup.from_flags(mmlu_split="validation")
  val_examples, _ = benchmarks.build_examples("mmlu_direct", dirs, val_setup)
  assert len(val_examples) == 8 and len(test_examples) > 8
  # The validation questions are the first two test questions copied above.
  by_subject = {}
  for example in test_examples:
    by_subject.setdefault(example.subset, []).append(example.prompt)
  assert [e.prompt for e in val_examples] == [p for s in sorted(by_subject) for p in by_subject[s][:2]]
  predictions = tmp_path / "p.jsonl"
  predictions.write_text("".join(json.dumps({"id": e.id, "prediction": e.gold}) + "\n" for e in val_examples))
  results, _ = runner.run(["mmlu_direct"], dirs, predictions_path=str(predictions), setup=val_setup)
  assert results["setup"]["mmlu_direct"]["split"] == "validation"
  assert "validation" in results["setup"]["mmlu_direct"]["split_note"]
  assert not any("split" in w for w in results["warnings"])
  assert val_examples[0].id == "mmlu_direct/abstract_algebra/val-0"
  predictions.write_text("".join(json.dumps({"id": e.id, "prediction": e.gold}) + "\n" for e in test_examples))
  results_test, _ = runner.run(["mmlu_direct"], dirs, predictions_path=str(predictions))
  assert results_test["setup"]["mmlu_direct"]["split"] == "test"
  assert any("Table 5 used validation" in w for w in results_test["warnings"])
  with pytest.raises(ConfigError, match="--mmlu_split='train'"):
    setups.EvalSetup.from_flags(mmlu_split="train")


def test_mgsm_default_average_excludes_english(shared_data, tmp_path):
  dirs = benchmarks.DataDirs(mgsm_dir=str(shared_data / "mgsm_sample"))
  (examples, _), = runner.collect_examples(["mgsm"], dirs).values()
  predictions = {e.id: ("-12345" if e.subset == "en" else f"The answer is {e.gold}.") for e in examples}
  summary, _ = runner.score_benchmark("mgsm", examples, predictions)
  assert summary["score"] == 100.0 and summary["subsets_in_score"] == ["de", "zh"]
  assert summary["per_subset"]["en"]["accuracy"] == 0.0
  # Overridable: with English in the scored languages the average drops.
  with_english = setups.EvalSetup.from_flags(mgsm_languages="de,en,zh")
  summary, _ = runner.score_benchmark("mgsm", examples, predictions, with_english)
  assert summary["score"] == pytest.approx(200.0 / 3)
  with pytest.raises(ConfigError, match="--mgsm_languages"):
    runner.score_benchmark("mgsm", examples, predictions, setups.EvalSetup.from_flags(mgsm_languages="fr"))


def test_results_json_records_the_setup(shared_data, tmp_path):
  flags = [f"--mmlu_dir={shared_data / 'mmlu_sample'}", f"--mgsm_dir={shared_data / 'mgsm_sample'}",
           f"--tydiqa_dir={shared_data / 'tydiqa_sample'}",
           f"--mmlu_cot_prompts={shared_data / 'mmlu_cot' / 'mmlu-cot.json'}"]
  assert cli.main([*flags, "--benchmarks=mmlu,mgsm,tydiqa", "--max_per_subset=2",
                   f"--export_prompts={tmp_path / 'prompts'}"]) == 0
  with open(tmp_path / "pred.jsonl", "w", encoding="utf-8") as f:
    for name in ("mmlu_direct", "mmlu_cot", "mgsm", "tydiqa"):
      for line in (tmp_path / "prompts" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        f.write(json.dumps({"id": record["id"], "prediction": record["gold"]}) + "\n")
    f.write(json.dumps({"id": "mgsm/xx/0", "prediction": "1"}) + "\n")
  assert cli.main([*flags, "--benchmarks=mmlu,mgsm,tydiqa", "--max_per_subset=2",
                   f"--predictions={tmp_path / 'pred.jsonl'}", f"--output_dir={tmp_path / 'out'}"]) == 0
  results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
  for name in ("mmlu_direct", "mmlu_cot", "mgsm", "tydiqa"):
    setup = results["setup"][name]
    assert {"split", "shots", "decoding", "prompt_source", "paper_setup"} <= set(setup), name
  assert results["setup"]["mmlu_direct"]["shots"] == 5 and results["setup"]["mgsm"]["shots"] == 8
  assert results["setup"]["mmlu_cot"]["prompt_source"].endswith("mmlu-cot.json")
  assert results["setup"]["mgsm"]["languages"] == ["de", "zh"]
  assert results["setup"]["mgsm"]["languages_reported_apart"] == ["en"]
  assert results["setup"]["tydiqa"]["languages"] == ["swahili"]
  assert results["setup"]["tydiqa"]["languages_reported_apart"] == ["english"]
  assert "predictions file" in results["setup"]["mgsm"]["decoding"]["source"]
  assert any("1 prediction id(s)" in w and "mgsm/xx/0" in w for w in results["warnings"])
  assert any("mgsm: 8 of the paper's languages are absent" in w for w in results["warnings"])
  table = (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
  assert "Setup: split test; 5-shot" in table and "Differences from the paper's setup" in table


def test_cli_errors_are_one_line_with_exit_2(shared_data, tmp_path, capsys):
  mgsm = f"--mgsm_dir={shared_data / 'mgsm_sample'}"
  cases = [(["--benchmarks=mmlux", mgsm], "--benchmarks: unknown benchmark 'mmlux'"),
           (["--benchmarks=mgsm", mgsm, "--mmlu_split=train"], "--mmlu_split='train'"),
           (["--benchmarks=mgsm", mgsm, "--compare_to=gpt-9"], "--compare_to='gpt-9'"),
           (["--benchmarks=mgsm", f"--mgsm_dir={tmp_path / 'none'}", "--export_prompts=x"], "does not exist"),
           (["--benchmarks=mgsm", mgsm, "--gin", "evaluate.no_such_flag=1"], "no_such_flag"),
           (["--benchmarks=mgsm", mgsm, f"--predictions={tmp_path / 'missing.jsonl'}",
             f"--output_dir={tmp_path}"], "missing.jsonl")]
  for argv, expected in cases:
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # gin's location lines are joined onto the message
    assert err[0].startswith("flan-eval: error:") and expected in err[0], (argv, err)
