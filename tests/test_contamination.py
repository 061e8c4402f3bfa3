"""flan-data contamination: n-gram overlap between training tasks and generated benchmark files."""
import argparse
import csv
import json
import random

import pytest

pytest.importorskip("seqio")

import seqio  # noqa: E402  pylint: disable=g-import-not-at-top
import tensorflow as tf  # noqa: E402  pylint: disable=g-import-not-at-top

from flan import errors  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import contamination_cli  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import contamination_index  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import contamination_ngrams as ngrams  # noqa: E402  pylint: disable=g-import-not-at-top
from flan.data import contamination_scan  # noqa: E402  pylint: disable=g-import-not-at-top

MMLU_QUESTION = ("Which of the following best describes the function of the mitochondria in a typical "
                 "eukaryotic cell during aerobic respiration?")
MMLU_OPTIONS = ("It stores genetic material", "It produces most of the ATP",
                "It synthesizes ribosomal proteins", "It digests worn out organelles")
BBH_INPUT = ("Today, Sarah went to the bakery. Between what times could she have gone? We know that: "
             "Sarah woke up at 5am. Mark saw Sarah walking in the park from 5am to 6am.")
MGSM_QUESTION = ("Ein Bauer hat 17 Kühe und kauft jeden Monat drei weitere Kühe dazu. Wie viele Kühe hat er "
                 "nach einem Jahr, wenn er keine verkauft?")
VOCAB = seqio.ByteVocabulary()


def _filler(rng, words=30):
  vocabulary = ["river", "stone", "quiet", "market", "lantern", "copper", "violet", "harbor", "meadow",
                "engine", "thunder", "pocket", "silver", "garden", "window", "ladder", "orange", "planet"]
  return " ".join(rng.choice(vocabulary) for _ in range(words))


def write_benchmarks(root):
  """A data_dir with mmlu/, bbh/ and mgsm/ in the benchmarks' own layouts (generated text)."""
  rng = random.Random(0)
  for split, count in (("dev", 5), ("test", 3)):
    folder = root / "mmlu" / "data" / split
    folder.mkdir(parents=True)
    with open(folder / f"biology_{split}.csv", "w", newline="") as f:
      writer = csv.writer(f)
      for i in range(count):
        if split == "test" and i == 1:
          writer.writerow([MMLU_QUESTION, *MMLU_OPTIONS, "B"])
        else:
          writer.writerow([f"{split} question {i}: {_filler(rng)}?", "alpha", "beta", "gamma", "delta", "A"])
  (root / "bbh" / "bbh").mkdir(parents=True)
  (root / "bbh" / "cot-prompts").mkdir()
  examples = [{"input": BBH_INPUT, "target": "(A)"}] + [
      {"input": f"Puzzle {i}: {_filler(rng)}", "target": "(B)"} for i in range(1, 3)]
  (root / "bbh" / "bbh" / "temporal_sequences.json").write_text(json.dumps({"examples": examples}))
  (root / "bbh" / "cot-prompts" / "temporal_sequences.txt").write_text(
      "canary\n-----\nTask.\n\nQ: q1\nA: Let's think step by step. So the answer is (A).")
  (root / "mgsm").mkdir()
  (root / "mgsm" / "mgsm_de.tsv").write_text(f"{MGSM_QUESTION}\t53\nZwei plus zwei ist wie viel?\t4\n")
  return root


def _tokenize_in_a_wrapper(dataset, output_features):
  return seqio.preprocessors.tokenize(dataset, output_features)


def _register(name, rows, tokenize=seqio.preprocessors.tokenize):
  """A seqio task over in-memory (inputs, targets) rows, with the text features kept."""
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)
  inputs = [r[0] for r in rows]
  targets = [r[1] for r in rows]

  def dataset_fn(split, shuffle_files, seed=None):
    del split, shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices({"inputs": inputs, "targets": targets})

  seqio.TaskRegistry.add(
      name, source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
      preprocessors=[tokenize, seqio.preprocessors.append_eos],
      output_features={"inputs": seqio.Feature(VOCAB), "targets": seqio.Feature(VOCAB)})
  return name


def _mixture(name, tasks):
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  seqio.MixtureRegistry.add(name, [(t, 1.0) for t in tasks])
  return name


@pytest.fixture(scope="module")
def training():
  """Tasks: dataset `leaky` (two variants) holding a verbatim MMLU item and a re-cased, re-punctuated BBH
  item; `clean` and `other` with unrelated text."""
  rng = random.Random(1)
  plain = [(f"Summarize: {_filler(rng)}", _filler(rng, 5)) for _ in range(40)]
  copied_mmlu = (f"Answer the question.\n{MMLU_QUESTION}\nOptions:\n- " + "\n- ".join(MMLU_OPTIONS), "B")
  recased_bbh = ("Q: " + BBH_INPUT.upper().replace(".", " ;").replace(":", " -- ").replace(",", ""), "(A)")
  leaky = plain[:10] + [copied_mmlu] + plain[10:20] + [recased_bbh] + plain[20:25]
  tasks = [_register("leaky:zs", leaky), _register("leaky:fs", [("Example.\n" + i, t) for i, t in leaky]),
           _register("clean:zs", plain[25:]), _register("other:zs", plain[:30])]
  _register("leaky_opaque:zs", leaky, tokenize=_tokenize_in_a_wrapper)  # the scan cannot stop before tokenizing
  return {"mixture": _mixture("contamination_test_mix", tasks), "tasks": tasks}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return write_benchmarks(tmp_path_factory.mktemp("benchmarks"))


def _run(capsys, *argv):
  code = errors.run_command("flan-data contamination",
                            lambda a: contamination_cli.run(contamination_cli.build_parser().parse_args(a)),
                            list(argv) + ["--quiet"])
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def _report(capsys, *argv):
  code, out, err = _run(capsys, *argv, "--json")
  assert code == 0, err
  return json.loads(out)


# ---------------------------------------------------------------------------------------------- n-grams

def test_normalization_ignores_case_punctuation_and_spacing():
  assert ngrams.tokens("Hello,   WORLD! It's 3.5-ish") == ngrams.tokens("hello world it s 3 5 ish")
  assert ngrams.tokens("小明有5个苹果。") == ["小", "明", "有", "5", "个", "苹", "果"]
  assert ngrams.tokens("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # combining vowel signs stay in the word
  assert ngrams.tokens("ＡＢＣ") == ["abc"]  # NFKC folds full-width letters


def _reference_token_hash(word):
  """The token hash in Python integers: byte polynomial + length salt, splitmix64 finalizer."""
  modulus, base = 1 << 64, int(ngrams._P)  # pylint: disable=protected-access
  data = word.encode("utf-8")
  value = (sum(b * pow(base, k, modulus) for k, b in enumerate(data))
           + len(data) * int(ngrams._LENGTH_SALT)) % modulus  # pylint: disable=protected-access
  for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
    value ^= value >> shift
    if factor:
      value = value * factor % modulus
  return value


def test_token_and_gram_hashes_match_python_integer_reference():
  hasher = ngrams.Hasher()
  words = ngrams.tokens("one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                        "naïve 苹果 ok")
  token_hashes = [_reference_token_hash(w) for w in words]
  assert [int(h) for h in hasher.token_hashes(words)] == token_hashes
  modulus, base = 1 << 64, int(ngrams._P)  # pylint: disable=protected-access
  for length in (1, 5, 13):
    expected = [sum(h * pow(base, j, modulus) for j, h in enumerate(token_hashes[s:s + length])) % modulus
                for s in range(len(words) - length + 1)]
    assert [int(x) for x in hasher.gram_hashes(words, length)] == expected
  hashes, text_of = hasher.joined_token_hashes("a b\x00\x00c")  # an empty text in the middle
  assert [int(h) for h in hashes] == [_reference_token_hash(w) for w in "abc"] and text_of.tolist() == [0, 0, 2]


def test_batched_matching_equals_a_naive_set_of_tuples_matcher():
  rng = random.Random(3)
  words = [f"w{i}" for i in range(40)]
  texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(300)]
  items = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 20))) for _ in range(60)]
  n = 4
  naive = {}
  for item in items:
    toks = tuple(ngrams.tokens(item))
    length = min(n, len(toks))
    naive.setdefault(length, set()).update(toks[i:i + length] for i in range(len(toks) - length + 1))
  expected = [i for i, text in enumerate(texts)
              if any(tuple(ngrams.tokens(text)[s:s + length]) in grams
                     for length, grams in naive.items() for s in range(len(ngrams.tokens(text)) - length + 1))]
  index = contamination_index.Index.build(
      [contamination_index.EvalItem(f"x/y/{i}", "x", "y", t) for i, t in enumerate(items)], n=n)
  found = ngrams.overlapping_texts(ngrams.Hasher(), texts, index.gram_sets)
  assert 0 < len(expected) < len(texts)
  assert found.tolist() == expected


# ------------------------------------------------------------------------------------------------ index

def test_index_items_exclude_exemplars_and_template_words(data_dir, tmp_path):
  from flan.evaluation import benchmarks  # pylint: disable=import-outside-toplevel
  items = contamination_index.eval_items(["mmlu", "bbh", "mgsm"], benchmarks.DataDirs(data_dir=str(data_dir)))
  by_id = {item.id: item for item in items}
  assert sorted(by_id) == ["bbh/temporal_sequences/0", "bbh/temporal_sequences/1", "bbh/temporal_sequences/2",
                           "mgsm/de/0", "mgsm/de/1", "mmlu/biology/0", "mmlu/biology/1", "mmlu/biology/2"]
  assert by_id["mmlu/biology/1"].text == "\n".join((MMLU_QUESTION,) + MMLU_OPTIONS)
  assert not any("dev question" in item.text or "Answer:" in item.text for item in items)
  index = contamination_index.Index.build(items, n=13, benchmarks=["mmlu", "bbh", "mgsm"])
  assert index.lengths() == [6, 13]  # "Zwei plus zwei ist wie viel" (6 words) counts as a whole
  index.save(tmp_path / "index.npz")
  loaded = contamination_index.Index.load(tmp_path / "index.npz")
  assert loaded.fingerprint == index.fingerprint and loaded.items == index.items


# --------------------------------------------------------------------------------------------- the scan

def test_copied_and_recased_items_are_reported_with_item_and_dataset(capsys, training, data_dir, tmp_path):
  hits = tmp_path / "hits.jsonl"
  report = _report(capsys, training["mixture"], "--benchmarks", "mmlu,bbh,mgsm", "--data_dir", str(data_dir),
                   "--hits_out", str(hits))
  mmlu = report["benchmarks"]["mmlu"]["subsets"]["biology"]
  assert (mmlu["items"], mmlu["overlapping"], mmlu["datasets"]) == (3, 1, {"leaky": 1})
  bbh = report["benchmarks"]["bbh"]["subsets"]["temporal_sequences"]
  assert (bbh["items"], bbh["overlapping"], bbh["datasets"]) == (3, 1, {"leaky": 1})
  assert report["benchmarks"]["mgsm"]["overlapping"] == 0
  assert report["benchmarks"]["mmlu"]["fraction"] == pytest.approx(1 / 3)
  assert report["datasets"]["leaky"]["tasks"] == {"leaky:fs": {"examples": 27, "overlapping": 2},
                                                  "leaky:zs": {"examples": 27, "overlapping": 2}}
  assert report["datasets"]["clean"]["overlapping"] == report["datasets"]["other"]["overlapping"] == 0
  records = [json.loads(line) for line in hits.read_text().splitlines()]
  assert sorted((r["item"], r["task"], r["example_index"]) for r in records) == [
      ("bbh/temporal_sequences/0", "leaky:fs", 21), ("bbh/temporal_sequences/0", "leaky:zs", 21),
      ("mmlu/biology/1", "leaky:fs", 10), ("mmlu/biology/1", "leaky:zs", 10)]
  mmlu_hit = next(r for r in records if r["item"] == "mmlu/biology/1" and r["task"] == "leaky:zs")
  assert f"[[{MMLU_QUESTION[:-1]}]]?" in mmlu_hit["inputs"] and mmlu_hit["inputs"].startswith("Answer the question.\n")
  assert mmlu_hit["item_text"].startswith(f"[[{MMLU_QUESTION}")
  bbh_hit = next(r for r in records if r["item"] == "bbh/temporal_sequences/0" and r["task"] == "leaky:zs")
  assert bbh_hit["inputs"].startswith("Q: [[TODAY SARAH WENT") and bbh_hit["targets"] == "(A)"
  code, out, _ = _run(capsys, training["mixture"], "--benchmarks", "mmlu,bbh,mgsm", "--data_dir", str(data_dir),
                      "--hits_out", str(hits))
  assert code == 0
  assert "  biology" in out and "leaky (1)" in out
  assert "2 of 8 evaluation items overlap; 4 of 99 training examples overlap" in out


def test_unrelated_task_reports_zero(capsys, training, data_dir, tmp_path):
  report = _report(capsys, "clean:zs", "--benchmarks", "mmlu,bbh,mgsm", "--data_dir", str(data_dir),
                   "--hits_out", str(tmp_path / "hits.jsonl"))
  assert report["items_overlapping"] == 0 and report["examples_overlapping"] == 0
  assert report["datasets"] == {"clean": {"examples": 15, "overlapping": 0, "fraction": 0.0,
                                          "tasks": {"clean:zs": {"examples": 15, "overlapping": 0}}}}
  assert report["hits_file"] is None


def test_task_read_through_its_whole_pipeline_gives_the_same_hits(capsys, training, data_dir, tmp_path):
  reports = [_report(capsys, task, "--benchmarks", "mmlu,bbh", "--data_dir", str(data_dir),
                     "--hits_out", str(tmp_path / f"{i}.jsonl")) for i, task in enumerate(("leaky:zs", "leaky_opaque:zs"))]
  assert json.dumps(reports[0]["benchmarks"]).replace('"leaky"', '"leaky_opaque"') == json.dumps(
      reports[1]["benchmarks"]) and reports[0]["items_overlapping"] == 2
  assert reports[1]["datasets"]["leaky_opaque"]["tasks"]["leaky_opaque:zs"] == {"examples": 27, "overlapping": 2}
  assert (tmp_path / "0.jsonl").read_text().replace("leaky:", "leaky_opaque:").replace(
      '"dataset": "leaky"', '"dataset": "leaky_opaque"') == (tmp_path / "1.jsonl").read_text()


def test_max_examples_stops_each_task(capsys, training, data_dir, tmp_path):
  report = _report(capsys, training["mixture"], "--benchmarks", "mmlu", "--data_dir", str(data_dir),
                   "--max_examples", "10", "--hits_out", str(tmp_path / "h.jsonl"))
  assert {t: c["examples"] for d in report["datasets"].values() for t, c in d["tasks"].items()} == {
      "clean:zs": 10, "leaky:fs": 10, "leaky:zs": 10, "other:zs": 10}
  assert report["items_overlapping"] == 0  # the copy is example 10, beyond the first 10


def test_shards_merged_equal_one_unsharded_run(capsys, training, data_dir, tmp_path):
  index = tmp_path / "index.npz"
  common = ["--hits_out", str(tmp_path / "hits.jsonl")]
  whole = _report(capsys, training["mixture"], "--benchmarks", "mmlu,bbh,mgsm", "--data_dir", str(data_dir),
                  "--index_out", str(index), "--results_out", str(tmp_path / "whole.json"), *common)
  whole_hits = (tmp_path / "hits.jsonl").read_text()
  parts = []
  for shard in range(3):
    part = tmp_path / f"part{shard}.json"
    code, out, err = _run(capsys, training["mixture"], "--index", str(index), "--shard", f"{shard}/3",
                          "--results_out", str(part))
    assert code == 0, err
    assert f"shard {shard}/3" in out
    parts.append(str(part))
  assert len(json.loads(open(parts[0]).read())["tasks"]) == 2  # 4 tasks over 3 shards: 2, 1, 1
  merged = _report(capsys, training["mixture"], "--merge", ",".join(reversed(parts)), *common)
  assert merged == whole
  assert (tmp_path / "hits.jsonl").read_text() == whole_hits
  results = [contamination_scan.load_result(p) for p in parts]
  assert contamination_scan.merge(results) == contamination_scan.load_result(tmp_path / "whole.json")
  code, _, err = _run(capsys, training["mixture"], "--merge", ",".join(parts[:2]))
  assert code == 2 and "shard(s) 2/3 missing" in err
  code, _, err = _run(capsys, training["mixture"], "--merge", f"{parts[0]},{parts[0]},{parts[1]}")
  assert code == 2 and "is also in" in err


def test_user_errors_are_one_line_exit_2(capsys, training, data_dir, tmp_path):
  index = tmp_path / "index.npz"
  contamination_index.Index.build(
      [contamination_index.EvalItem("mmlu/a/0", "mmlu", "a", MMLU_QUESTION)], n=13, benchmarks=["mmlu"]).save(index)
  for argv, message in (
      (["--benchmarks", "mmlu,gsm8k", "--data_dir", str(data_dir)], "unknown benchmark 'gsm8k'"),
      (["--index", str(index), "--n", "8"], "--n 8 differs from the n = 13"),
      (["--index", str(tmp_path / "missing.npz")], "missing.npz does not exist"),
      (["--benchmarks", "mmlu", "--data_dir", str(tmp_path)], "MMLU directory"),
      (["--index", str(index), "--shard", "3/3"], "--shard 3/3: need 0 <= i < k"),
      (["--index", str(index), "--shard", "1/2"], "needs --results_out"),
      (["--index", str(index), "--merge", "a.json"], "--index does not apply")):
    code, _, err = _run(capsys, training["mixture"], *argv)
    assert code == 2, (argv, err)
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
  code, _, err = _run(capsys, "no_such_mixture", "--index", str(index))
  assert code == 2 and "unknown task or mixture 'no_such_mixture'" in err

  def unreadable(split, shuffle_files, seed=None):
    raise ValueError("the data folder is not set: bind broken.path")

  if "contamination_broken" in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove("contamination_broken")
  seqio.TaskRegistry.add("contamination_broken", source=seqio.FunctionDataSource(unreadable, splits=["train"]),
                         preprocessors=[], output_features={"inputs": seqio.Feature(VOCAB),
                                                            "targets": seqio.Feature(VOCAB)})
  code, _, err = _run(capsys, "contamination_broken", "--index", str(index))
  assert code == 2 and "reading task 'contamination_broken': the data folder is not set" in err


def test_command_registers_on_a_subparser():
  parser = argparse.ArgumentParser(prog="flan-data")
  contamination_cli.add_contamination_command(parser.add_subparsers(dest="command"))
  args = parser.parse_args(["contamination", "mix", "--benchmarks", "mmlu", "--data_dir", "D", "--n", "8"])
  assert (args.command, args.name, args.n, args.handler) == ("contamination", "mix", 8, contamination_cli.run)


def test_index_and_report_modules_import_without_tensorflow():
  """Building an index and reporting run on a machine without TensorFlow (e.g. an evaluation host)."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  script = (
      "import importlib.abc, sys\n"
      "class Block(importlib.abc.MetaPathFinder):\n"
      "  def find_spec(self, name, path=None, target=None):\n"
      "    if name.split('.')[0] in ('tensorflow', 'seqio'):\n"
      "      raise ImportError(name + ' is blocked')\n"
      "sys.meta_path.insert(0, Block())\n"
      "from flan.data import contamination_cli, contamination_index, contamination_match, contamination_report\n"
      "item = contamination_index.EvalItem('m/s/0', 'm', 's', 'one two three')\n"
      "assert contamination_index.Index.build([item], n=13).lengths() == [3]\n")
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr


def test_flan_data_runs_the_contamination_command(capsys, training, data_dir, tmp_path):
  from flan.data import cli  # pylint: disable=import-outside-toplevel
  assert cli.main(["contamination", "leaky:zs", "--benchmarks", "mmlu,bbh", "--data_dir", str(data_dir),
                   "--hits_out", str(tmp_path / "hits.jsonl"), "--json", "--quiet"]) == 0
  report = json.loads(capsys.readouterr().out)
  assert report["datasets"]["leaky"]["overlapping"] == 2
  assert cli.main(["contamination", "no_such_task", "--benchmarks", "mmlu", "--data_dir", str(data_dir),
                   "--quiet"]) == 2
  assert "no_such_task" in capsys.readouterr().err
