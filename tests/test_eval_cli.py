"""flan-eval end to end on predictions, full-size benchmark layouts (synthetic), and clear data errors."""
import json
import pathlib

import pytest

from flan.evaluation import benchmarks
from flan.evaluation import cli
from flan.evaluation import readers
from flan.evaluation import runner

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
# Synthetic exemplar endings in several scripts: (question prefix, answer prefix, phrase before the number,
# text after it).
SCRIPTS = {"bn": ("প্রশ্ন: ", "ধাপে ধাপে উত্তর: ", "উত্তর হল ", "।"), "ja": ("問題：", "ステップごとの答え：", "答えは", "です。"),
           "th": ("โจทย์: ", "คำตอบทีละขั้นตอน: ", "คำตอบคือ ", ""), "de": ("Frage: ", "Antwort: ", "Die Antwort ist ", ".")}


def _write_full_layout(root):
  root = pathlib.Path(root)
  for split, rows in (("dev", 5), ("test", 2)):
    folder = root / "mmlu" / "data" / split
    folder.mkdir(parents=True)
    for s in range(57):
      lines = [f'"Question {s}.{i}, with a comma?",w,x,y,z,{"ABCD"[i % 4]}' for i in range(rows)]
      (folder / f"subject_{s:02d}_{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
  (root / "bbh" / "bbh").mkdir(parents=True)
  (root / "bbh" / "cot-prompts").mkdir(parents=True)
  for t in range(27):
    examples = [{"input": f"Task {t} item {i}\nOptions:\n(A) x\n(B) y", "target": "(B)"} for i in range(3)]
    (root / "bbh" / "bbh" / f"task_{t:02d}.json").write_text(json.dumps({"examples": examples}))
    shots = "\n\n".join(f"Q: shot {k}\nA: Let's think step by step.\nReason {k}. So the answer is (A)."
                        for k in range(3))
    (root / "bbh" / "cot-prompts" / f"task_{t:02d}.txt").write_text(f"canary\n-----\nTask {t}.\n\n{shots}")
  (root / "mgsm").mkdir()
  exemplars = {}
  for language in MGSM_LANGUAGES:
    q_prefix, a_prefix, phrase, end = SCRIPTS.get(language, ("Question: ", "Answer: ", "The answer is ", "."))
    exemplars[language] = {str(k): {"q": f"{q_prefix}q{k}", "a": f"{a_prefix}{k} + 1 = {k + 1}. {phrase}{k + 1}{end}"}
                           for k in range(1, 9)}
    (root / "mgsm" / f"mgsm_{language}.tsv").write_text(f"How many?\t1,000\nAnd now?\t7\n", encoding="utf-8")
  # The upstream layout: a data-only Python file, read without executing it.
  (root / "mgsm" / "exemplars.py").write_text(
      '"""Prompts."""\nEXEMPLAR_NUMBER_ANSWERS = [2, 3, 4, 5, 6, 7, 8, 9]\n'
      f"MGSM_EXEMPLARS = {exemplars!r}\n", encoding="utf-8")
  languages = ("arabic", "bengali", "english", "finnish", "indonesian", "korean", "russian", "swahili", "telugu")
  data = [{"title": l, "paragraphs": [{"context": f"{l} context {i} answer{i}",
                                       "qas": [{"id": f"{l}-{i}-1", "question": f"q{i}?",
                                                "answers": [{"text": f"answer{i}", "answer_start": 0}]}]}]}
          for l in languages for i in range(2)]
  (root / "tydiqa").mkdir()
  (root / "tydiqa" / "tydiqa-goldp-v1.1-dev.json").write_text(json.dumps({"data": data}), encoding="utf-8")
  return root


def test_full_size_layouts_with_data_dir(tmp_path):
  root = _write_full_layout(tmp_path / "data")
  collected = runner.collect_examples(benchmarks.BENCHMARKS, benchmarks.DataDirs(data_dir=str(root)))
  subsets = {name: {e.subset for e in examples} for name, (examples, _) in collected.items()}
  assert len(subsets["mmlu_direct"]) == 57 and len(subsets["bbh_cot"]) == 27
  assert len(subsets["mgsm"]) == 11 and len(subsets["tydiqa"]) == 9
  by_language = {e.subset: e for e in collected["mgsm"][0]}
  assert by_language["bn"].answer_phrases[0] == "উত্তর হল"
  assert by_language["ja"].answer_phrases[0] == "答えは"
  assert by_language["th"].answer_phrases[0] == "คำตอบคือ"
  assert by_language["ja"].prompt.endswith("\nステップごとの答え：")
  predictions = {e.id: e.gold for examples, _ in collected.values() for e in examples}
  for name, (examples, _) in collected.items():
    assert runner.score_benchmark(name, examples, predictions)[0]["score"] == 100.0
  summary, _ = runner.score_benchmark("tydiqa", collected["tydiqa"][0], predictions)
  assert len(summary["subsets_in_score"]) == 8 and "english" not in summary["subsets_in_score"]


def test_cli_scores_predictions_and_exports_prompts(shared_data, tmp_path):
  data = {"--mmlu_dir": "mmlu_sample", "--bbh_dir": "bbh_sample", "--tydiqa_dir": "tydiqa_sample",
          "--mgsm_dir": "mgsm_sample"}
  flags = [f"{k}={shared_data / v}" for k, v in data.items()]
  gin_file = pathlib.Path(__file__).resolve().parents[1] / "gin" / "runs" / "eval.gin"
  assert cli.main([f"--gin_file={gin_file}", *flags, "--benchmarks=mmlu,bbh_cot,mgsm", "--max_per_subset=3",
            f"--export_prompts={tmp_path / 'prompts'}"]) == 0
  lines = (tmp_path / "prompts" / "mgsm.jsonl").read_text(encoding="utf-8").splitlines()
  assert len(lines) == 9  # 3 languages x 3
  record = json.loads(lines[0])
  assert {"id", "benchmark", "subset", "prompt", "gold"} <= set(record)
  assert sorted(p.name for p in (tmp_path / "prompts").iterdir()) == [
      "bbh_cot.jsonl", "mgsm.jsonl", "mmlu_cot.jsonl", "mmlu_direct.jsonl"]
  # Predictions made elsewhere: gold for MGSM (in prose), "(A)" constant for BBH CoT, "C" for MMLU.
  with open(tmp_path / "predictions.jsonl", "w", encoding="utf-8") as f:
    for name in ("mgsm", "bbh_cot", "mmlu_direct", "mmlu_cot"):
      for line in (tmp_path / "prompts" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        prediction = {"mgsm": f"So the answer is {r['gold']}.", "bbh_cot": "So the answer is (A).",
                      "mmlu_direct": "C", "mmlu_cot": "The answer is (C)."}[name]
        f.write(json.dumps({"id": r["id"], "prediction": prediction}) + "\n")
  assert cli.main([*flags, "--benchmarks=all", "--max_per_subset=3", f"--predictions={tmp_path / 'predictions.jsonl'}",
            f"--output_dir={tmp_path / 'out'}", "--model_name=test"]) == 0
  results = json.loads((tmp_path / "out" / "results.json").read_text())
  assert results["table_order"] == ["mmlu_direct", "mmlu_cot", "bbh_cot", "mgsm"]  # others had no predictions
  assert results["benchmarks"]["mgsm"]["score"] == 100.0
  mmlu = results["benchmarks"]["mmlu_direct"]
  assert mmlu["score"] == results["benchmarks"]["mmlu_cot"]["score"]
  expected = [(s["normalized"]) for s in results["benchmarks"].values()]
  assert results["normalized_average"] == pytest.approx(sum(expected) / len(expected))
  assert results["complete"] is False
  table = (tmp_path / "out" / "results.md").read_text()
  assert table.startswith("| Model | Norm. avg. | MMLU Direct | MMLU CoT | BBH Direct | BBH CoT | TyDiQA Direct "
                          "| MGSM CoT |")
  assert "| test |" in table and "| — |" in table


def test_clear_errors(shared_data, tmp_path):
  with pytest.raises(ValueError, match="unknown benchmark 'mmlux'"):
    benchmarks.resolve_names("mmlux")
  with pytest.raises(readers.EvalDataError, match="does not exist"):
    runner.collect_examples(["mgsm"], benchmarks.DataDirs(mgsm_dir=str(tmp_path / "nope")))
  bad = tmp_path / "mmlu" / "data"
  for split in ("dev", "test"):
    (bad / split).mkdir(parents=True)
    (bad / split / f"x_{split}.csv").write_text("q,a,b,c,d,A\nq2,a,b,c,d,E\n")
  with pytest.raises(readers.EvalDataError, match=r"x_dev.csv:2: answer 'E'"):
    runner.collect_examples(["mmlu_direct"], benchmarks.DataDirs(mmlu_dir=str(tmp_path / "mmlu")))
  (tmp_path / "p.jsonl").write_text('{"id": "mgsm/de/0", "prediction": "1"}\n{"id": 3}\n')
  with pytest.raises(ValueError, match=r"p.jsonl:2: record 3 has no 'prediction'"):
    runner.read_predictions(tmp_path / "p.jsonl")
  (tmp_path / "p.jsonl").write_text('{"id": "mgsm/de/0", "prediction": "1"}\n')
  with pytest.raises(ValueError, match="749 of 750 mgsm prompts have no prediction"):
    runner.run(["mgsm"], benchmarks.DataDirs(mgsm_dir=str(shared_data / "mgsm_sample")),
               predictions_path=tmp_path / "p.jsonl")


def test_cli_decodes_a_checkpoint_end_to_end(shared_data, tmp_path):
  """--checkpoint: load (a tiny random T5 in Hugging Face format, with T5's vocabulary size) -> prompts ->
  predict_texts -> scores and files."""
  import jax  # pylint: disable=import-outside-toplevel
  from flan.models import hf, t5  # pylint: disable=import-outside-toplevel
  from flan.models.config import get_config  # pylint: disable=import-outside-toplevel
  from flan.trainer import state as state_lib  # pylint: disable=import-outside-toplevel
  config = get_config("tiny", vocab_size=32128, emb_dim=8, num_heads=2, head_dim=4, mlp_dim=16,
                      num_encoder_layers=1, num_decoder_layers=1, dtype="float32")
  model = t5.Transformer(config)
  params = state_lib.unbox(model.init(jax.random.key(0), *model.dummy_inputs())["params"])
  fixture = hf.export_hf(config, jax.device_get(params), tmp_path / "model")
  assert cli.main([f"--checkpoint={fixture}", f"--spiece_model={shared_data / 't5_spiece' / 'spiece.model'}",
            f"--tydiqa_dir={shared_data / 'tydiqa_sample'}", "--benchmarks=tydiqa", "--max_per_subset=2",
            "--max_input_length=32", "--direct_decode_length=4", "--batch_size=2",
            f"--output_dir={tmp_path}"]) == 0
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["benchmarks"]["tydiqa"]["count"] == 4
  # Every TyDiQA prompt (a passage and a 1-shot exemplar) is longer than 32 tokens: all are counted as cut.
  assert results["setup"]["tydiqa"]["prompts_truncated"] == 4
  assert results["setup"]["tydiqa"]["decoding"]["method"] == "greedy"
  assert (tmp_path / "report.html").is_file() and (tmp_path / "report.png").is_file()
  scored = [json.loads(l) for l in (tmp_path / "scored_tydiqa.jsonl").read_text().splitlines()]
  assert len(scored) == 4 and all(isinstance(r["answer"], str) for r in scored)


def test_mmlu_cot_prompt_file_is_used_verbatim(tmp_path):
  root = _write_full_layout(tmp_path / "data")
  prompts = {f"subject_{s:02d}": f"Header {s}.\n\nQ: shot\n(A) a (B) b (C) c (D) d\nA: Let's think step by step. "
             "Because. The answer is (B).\n\n" for s in range(57)}
  (root / "mmlu" / "mmlu-cot.json").write_text(json.dumps(prompts))
  (examples, note), = runner.collect_examples(["mmlu_cot"], benchmarks.DataDirs(data_dir=str(root))).values()
  assert "mmlu-cot.json" in note
  assert examples[0].prompt == (prompts["subject_00"].rstrip() + "\n\nQ: Question 0.0, with a comma?\n"
                                "(A) w (B) x (C) y (D) z\nA: Let's think step by step.")
  del prompts["subject_03"]
  (root / "mmlu" / "mmlu-cot.json").write_text(json.dumps(prompts))
  with pytest.raises(readers.EvalDataError, match="no CoT prompt for MMLU subject.*subject_03"):
    runner.collect_examples(["mmlu_cot"], benchmarks.DataDirs(data_dir=str(root)))
