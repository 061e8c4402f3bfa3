"""flan-infer (score / predict) and flan-convert (T5X -> Hugging Face) from the command line entry points."""
import json
import pathlib
import sys
import types

import jax
import numpy as np
import pytest

from flan import convert, infer
from flan.models import hf, t5x
from flan.models.scoring import score, score_tokens
from flan.models.tokenizer import Tokenizer

# orbax's background threads of the tiny training run below can report "Event loop is closed" during a later
# test's garbage collection; the checkpoints themselves are checked.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

ROWS = [{"id": "a", "inputs": "Is the sky blue?", "targets": "yes", "extra": [1, 2]},
        {"id": 7, "inputs": "translate English to German: The house is wonderful.", "targets": "Das Haus"},
        {"inputs": "Q: 2+2?", "targets": "four"}]


@pytest.fixture(scope="module")
def paths(shared_data):
  return {"tiny": shared_data / "t5x_checkpoints" / "test_t5_tiny.checkpoint_0",
          "vocab": shared_data / "t5_spiece" / "spiece.model"}


@pytest.fixture(scope="module")
def hf_dir(paths, tmp_path_factory):
  out = tmp_path_factory.mktemp("converted") / "tiny_hf"
  assert convert.main(["--from", str(paths["tiny"]), "--to_hf", str(out), "--vocab", str(paths["vocab"])]) == 0
  return out


def write_jsonl(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return path


def read_jsonl(path):
  return [json.loads(line) for line in path.read_text().splitlines()]


def test_convert_t5x_to_hf_keeps_parameters_and_ships_the_vocabulary(hf_dir, paths):
  assert (hf_dir / "spiece.model").read_bytes() == paths["vocab"].read_bytes()
  config, params = hf.import_hf(hf_dir)
  expected_config, expected = t5x.import_t5x(paths["tiny"])
  assert config == expected_config
  jax.tree.map(np.testing.assert_array_equal, params, expected)


def test_score_mode_passes_rows_through_and_adds_scores(hf_dir, paths, tmp_path):
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  out = tmp_path / "out" / "scores.jsonl"
  assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                     "--output", str(out)]) == 0
  written = read_jsonl(out)
  assert [{k: v for k, v in row.items() if k != "score"} for row in written] == ROWS
  config, params = t5x.import_t5x(paths["tiny"])
  expected = score(config.replace(dtype="float32"), params, Tokenizer(paths["vocab"]),
                   [(r["inputs"], r["targets"]) for r in ROWS])
  np.testing.assert_allclose([row["score"] for row in written], expected, rtol=1e-6)
  assert all(row["score"] < 0 for row in written)


def test_score_mode_on_a_model_parallel_mesh(hf_dir, tmp_path):
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  common = ["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source)]
  assert infer.main(common + ["--output", str(tmp_path / "one.jsonl")]) == 0
  assert infer.main(common + ["--output", str(tmp_path / "mesh.jsonl"), "--model_parallel", "4"]) == 0
  np.testing.assert_allclose([r["score"] for r in read_jsonl(tmp_path / "mesh.jsonl")],
                             [r["score"] for r in read_jsonl(tmp_path / "one.jsonl")], rtol=1e-5)


def test_vocabulary_comes_from_flag_when_the_checkpoint_has_none(paths, tmp_path, capsys):
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  args = ["--mode", "score", "--checkpoint", str(paths["tiny"]), "--input", str(source),
          "--output", str(tmp_path / "out.jsonl")]
  assert infer.main(args) == 2
  assert "pass --vocab" in capsys.readouterr().err
  assert infer.main(args + ["--vocab", str(paths["vocab"])]) == 0
  assert np.isfinite(read_jsonl(tmp_path / "out.jsonl")[0]["score"])


@pytest.mark.parametrize("line,message", [
    ('{"inputs": "x"}', r"in.jsonl:2: missing key 'targets'"),
    ('{"inputs": "x", "targets": 3}', r"in.jsonl:2: 'targets' must be a string"),
    ("{not json", r"in.jsonl:2: malformed JSON"),
])
def test_bad_input_rows_are_located(hf_dir, tmp_path, capsys, line, message):
  source = tmp_path / "in.jsonl"
  source.write_text(json.dumps(ROWS[0]) + "\n" + line + "\n")
  assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                     "--output", str(tmp_path / "out.jsonl")]) == 2
  assert message in capsys.readouterr().err


def test_predict_mode_delegates_to_decoding(hf_dir, tmp_path, monkeypatch):
  calls = {}

  def predict_texts(config, params, tokenizer, inputs, **options):
    calls.update(config=config, inputs=inputs, options=options, vocab=tokenizer.vocab_size)
    return [f"out {i}" for i in range(len(inputs))]

  monkeypatch.setitem(sys.modules, "flan.models.decoding",
                      types.SimpleNamespace(predict_texts=predict_texts))
  source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "inputs": "a"}, {"id": 2, "inputs": "b"}])
  out = tmp_path / "pred.jsonl"
  assert infer.main(["--mode", "predict", "--checkpoint", str(hf_dir), "--input", str(source),
                     "--output", str(out), "--method", "beam", "--beam_size", "3",
                     "--max_decode_length", "5"]) == 0
  assert read_jsonl(out) == [{"id": 1, "inputs": "a", "prediction": "out 0"},
                             {"id": 2, "inputs": "b", "prediction": "out 1"}]
  assert calls["inputs"] == ["a", "b"] and calls["vocab"] == 32100
  assert calls["options"]["method"] == "beam" and calls["options"]["beam_size"] == 3
  assert calls["options"]["max_decode_length"] == 5 and calls["config"].dtype == "float32"
  assert calls["options"]["mesh"] is None


def test_a_tokenizer_larger_than_the_checkpoint_vocabulary_is_refused(paths, tmp_path, capsys):
  small_vocab_model = pathlib.Path(__file__).resolve().parent / "fixtures" / "hf_tiny_t5"  # 256 embeddings
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  out = tmp_path / "out.jsonl"
  assert infer.main(["--mode", "score", "--checkpoint", str(small_vocab_model), "--vocab", str(paths["vocab"]),
                     "--input", str(source), "--output", str(out)]) == 2
  err = capsys.readouterr().err
  assert "32100 ids" in err and "vocab_size 256" in err and "Traceback" not in err
  assert not out.exists()


@pytest.mark.parametrize("line,message", [
    ('{"inputs": null, "targets": "x"}', r"in.jsonl:2: 'inputs' must be a string, found null"),
    ('{"inputs": ["a", "b"], "targets": "x"}', r"in.jsonl:2: 'inputs' must be a string, found list"),
])
def test_non_string_text_fields_are_located(hf_dir, tmp_path, capsys, line, message):
  source = tmp_path / "in.jsonl"
  source.write_text(json.dumps(ROWS[0]) + "\n" + line + "\n")
  assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                     "--output", str(tmp_path / "out.jsonl")]) == 2
  assert message in capsys.readouterr().err


def test_non_utf8_input_names_file_and_line(hf_dir, tmp_path, capsys):
  source = tmp_path / "in.jsonl"
  source.write_bytes(json.dumps(ROWS[0]).encode() + b'\n{"inputs": "caf\xe9", "targets": "x"}\n')
  assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                     "--output", str(tmp_path / "out.jsonl")]) == 2
  assert f"{source}:2: not UTF-8 text" in capsys.readouterr().err


def test_an_unwritable_output_is_refused_before_the_model_is_loaded(hf_dir, tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(infer, "load_model", lambda *a: pytest.fail("the model was loaded"))
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  (tmp_path / "a_file").write_text("")
  for output, message in [(tmp_path, "is a directory"), (tmp_path / "a_file" / "out.jsonl", "Not a directory"),
                          (source, "is the input file")]:
    assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                       "--output", str(output)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--batch_size", "0"), ("--max_input_length", "-1"),
                                        ("--max_decode_length", "0"), ("--model_parallel", "-2"),
                                        ("--max_target_length", "0"), ("--temperature", "-0.5"),
                                        ("--top_p", "0"), ("--beam_size", "0"), ("--top_k", "-1")])
def test_counts_below_their_minimum_are_refused(tmp_path, capsys, flag, value):
  with pytest.raises(SystemExit) as raised:
    infer.main(["--mode", "score", "--checkpoint", str(tmp_path), "--input", "x", "--output", "y", flag, value])
  assert raised.value.code == 2 and flag in capsys.readouterr().err


def test_long_inputs_keep_their_last_tokens_and_are_counted(hf_dir, paths, tmp_path, caplog):
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  out = tmp_path / "out.jsonl"
  with caplog.at_level("WARNING", logger="flan.infer"):
    assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                       "--output", str(out), "--max_input_length", "5"]) == 0
  tokenizer = Tokenizer(paths["vocab"])
  encoded = [tokenizer.encode(r["inputs"]) + [1] for r in ROWS]
  cut = sum(len(ids) > 5 for ids in encoded)
  assert cut >= 2 and f"{cut} of 3 inputs were longer than --max_input_length=5" in caplog.text
  config, params = t5x.import_t5x(paths["tiny"])
  expected = score_tokens(config.replace(dtype="float32"), params, [ids[-5:] for ids in encoded],
                          [tokenizer.encode(r["targets"]) + [1] for r in ROWS])
  np.testing.assert_allclose([row["score"] for row in read_jsonl(out)], expected, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_flan_model_dir_with_a_corrupt_latest_step_uses_the_previous_one(paths, tmp_path, capsys):
  import shutil  # pylint: disable=import-outside-toplevel
  from flan.trainer import loop  # pylint: disable=import-outside-toplevel
  from tests.trainer_tiny import LENGTHS, tiny_config  # pylint: disable=import-outside-toplevel
  model_dir = tmp_path / "run"
  loop.train(model_dir=str(model_dir), model_config=tiny_config(vocab_size=32128), num_steps=2, batch_size=8,
             feature_lengths=LENGTHS, mesh_data=1, checkpoint_every=1, stream=None)
  shutil.copyfile(paths["vocab"], model_dir / "spiece.model")
  for path in (model_dir / "checkpoints" / "2").rglob("*"):
    if path.is_file() and path.parent.name == "d":
      path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  args = ["--mode", "score", "--input", str(source)]
  with pytest.warns(RuntimeWarning, match=r"checkpoint step 2 .* could not be read .*falling back to step 1"):
    assert infer.main(args + ["--checkpoint", str(model_dir), "--output", str(tmp_path / "dir.jsonl")]) == 0
  assert infer.main(args + ["--checkpoint", str(model_dir / "checkpoints" / "1"),
                            "--output", str(tmp_path / "step1.jsonl")]) == 0
  assert read_jsonl(tmp_path / "dir.jsonl") == read_jsonl(tmp_path / "step1.jsonl")
  with pytest.warns(RuntimeWarning, match="falling back to step 1"):
    assert convert.main(["--from", str(model_dir), "--to_hf", str(tmp_path / "hf")]) == 0
  # an explicitly named unreadable step is refused, not replaced
  assert infer.main(args + ["--checkpoint", str(model_dir / "checkpoints" / "2"),
                            "--output", str(tmp_path / "step2.jsonl")]) == 2
  assert "no readable checkpoint step" in capsys.readouterr().err


def test_a_target_longer_than_the_limit_is_refused_not_cut(hf_dir, paths, tmp_path, capsys):
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  lengths = [len(Tokenizer(paths["vocab"]).encode(r["targets"])) + 1 for r in ROWS]
  limit = min(lengths)
  first_too_long = next(i for i, n in enumerate(lengths) if n > limit)
  assert infer.main(["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source),
                     "--output", str(tmp_path / "out.jsonl"), "--max_target_length", str(limit)]) == 2
  err = capsys.readouterr().err
  assert f"{source}:{first_too_long + 1}: the target has {lengths[first_too_long]} tokens" in err
  assert f"--max_target_length={limit}" in err
  assert not (tmp_path / "out.jsonl").exists()


def test_a_model_parallel_size_that_does_not_fit_is_refused_before_loading(hf_dir, tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(infer, "load_model", lambda *a: pytest.fail("the model was loaded"))
  source = write_jsonl(tmp_path / "in.jsonl", ROWS)
  common = ["--mode", "score", "--checkpoint", str(hf_dir), "--input", str(source), "--output",
            str(tmp_path / "o.jsonl")]
  assert infer.main(common + ["--model_parallel", "3"]) == 2  # 8 devices
  assert "--model_parallel 3" in capsys.readouterr().err
  assert infer.main(common + ["--model_parallel", "2", "--batch_size", "3"]) == 2  # data axis of 4
  assert "--batch_size 3" in capsys.readouterr().err


def _tiny_t5_checkpoint(directory, vocab):
  """A random T5 with T5's vocabulary size, in Hugging Face format with its spiece.model."""
  import shutil  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  from flan.models import hf, t5  # pylint: disable=import-outside-toplevel
  from flan.models.config import get_config  # pylint: disable=import-outside-toplevel
  from flan.trainer import state as state_lib  # pylint: disable=import-outside-toplevel
  config = get_config("tiny", vocab_size=32128, emb_dim=8, num_heads=2, head_dim=4, mlp_dim=16,
                      num_encoder_layers=1, num_decoder_layers=1, dtype="float32")
  model = t5.Transformer(config)
  params = state_lib.unbox(model.init(jax.random.key(0), *model.dummy_inputs())["params"])
  path = hf.export_hf(config, jax.device_get(params), directory)
  shutil.copyfile(vocab, pathlib.Path(path) / "spiece.model")
  return pathlib.Path(path)


@pytest.mark.parametrize("family", ["t5", "decoder"])
def test_score_with_tokens_reports_the_exact_ids(family, paths, tmp_path):
  """--with_tokens: the prefix fed (T5: inputs EOS; decoder: start inputs EOS) and the ids scored (targets EOS)."""
  from flan.models import families  # pylint: disable=import-outside-toplevel
  if family == "t5":
    checkpoint = _tiny_t5_checkpoint(tmp_path / "t5", paths["vocab"])
  else:
    checkpoint = pathlib.Path(__file__).resolve().parent / "fixtures" / "hf_tiny_llama"
  _, _, tokenizer = families.load_model_any(checkpoint)
  source = write_jsonl(tmp_path / "in.jsonl", [{"inputs": "hello world", "targets": "yes"}])
  out = tmp_path / "out.jsonl"
  assert infer.main(["--mode", "score", "--checkpoint", str(checkpoint), "--input", str(source), "--output",
                     str(out), "--with_tokens"]) == 0
  row = read_jsonl(out)[0]
  inputs, targets = list(tokenizer.encode("hello world")), list(tokenizer.encode("yes"))
  assert row["target_ids"] == targets + [tokenizer.eos_id]
  if family == "decoder":
    assert row["input_ids"] == list(tokenizer.start_ids) + inputs + [tokenizer.eos_id]
  else:
    assert row["input_ids"] == inputs + [tokenizer.eos_id]
  assert np.isfinite(row["score"])
