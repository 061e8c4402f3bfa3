"""Every command's errors a user can fix end in one or two lines naming the file or key, exit status 2
(input, configuration) or 1 (environment), and no traceback. Each case runs the command in a subprocess."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.trainer_tiny import write_gin

ROOT = pathlib.Path(__file__).resolve().parents[1]
V11 = ROOT / "tests" / "fixtures" / "hf_tiny_t5"


def _run(module, args, cwd):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  env.pop("FLAN_DEBUG", None)
  return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=300, check=False)


def _assert_clean_error(result, status, *named):
  assert result.returncode == status, (result.returncode, result.stderr[-2000:])
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if ": error:" in line or line.startswith("usage:")]
  assert errors, result.stderr[-2000:]
  for text in named:
    assert str(text) in result.stderr, (text, result.stderr[-2000:])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli_errors")
  good = root / "rows.jsonl"
  good.write_text(json.dumps({"inputs": "Is it?", "targets": "yes"}) + "\n")
  latin1 = root / "latin1.jsonl"
  latin1.write_bytes(b'{"inputs": "ok", "targets": "x"}\n{"inputs": "caf\xe9", "targets": "x"}\n')
  null_inputs = root / "null.jsonl"
  null_inputs.write_text('{"inputs": null, "targets": "x"}\n')
  a_file = root / "a_file"
  a_file.write_text("")
  (root / "out_dir").mkdir()
  return {"root": root, "good": good, "latin1": latin1, "null": null_inputs, "a_file": a_file}


def test_flan_infer_bad_inputs(files):
  root = files["root"]
  score = ["--mode", "score", "--checkpoint", V11]
  cases = [
      (score + ["--input", files["good"], "--output", root / "o.jsonl", "--checkpoint", root / "absent"], 2,
       [root / "absent"]),
      (score + ["--input", root / "missing.jsonl", "--output", root / "o.jsonl"], 2, [root / "missing.jsonl"]),
      (score + ["--input", files["latin1"], "--output", root / "o.jsonl"], 2, [f"{files['latin1']}:2"]),
      (score + ["--input", files["null"], "--output", root / "o.jsonl"], 2, [f"{files['null']}:1", "'inputs'"]),
      (score + ["--input", files["good"], "--output", root / "out_dir"], 2, [root / "out_dir", "directory"]),
      (score + ["--input", files["good"], "--output", root / "o.jsonl", "--batch_size", "-1"], 2, ["--batch_size"]),
  ]
  for args, status, named in cases:
    _assert_clean_error(_run("flan.infer", args, root), status, *named)
  assert not (root / "o.jsonl").exists()


def test_flan_infer_tokenizer_larger_than_the_model(files, shared_data):
  root = files["root"]
  vocab = shared_data / "t5_spiece" / "spiece.model"
  result = _run("flan.infer", ["--mode", "score", "--checkpoint", V11, "--vocab", vocab, "--input", files["good"],
                               "--output", root / "o.jsonl"], root)
  _assert_clean_error(result, 2, vocab, "32100", "vocab_size 256")


def test_flan_convert_bad_inputs(files):
  root = files["root"]
  cases = [
      (["--from", root / "absent", "--to_hf", root / "hf"], 2, [root / "absent"]),
      (["--from", V11, "--to_hf", V11, "--overwrite"], 2, [V11, "source checkpoint"]),
      (["--from", V11, "--to_hf", root / "hf", "--max_shard_gb", "-1"], 2, ["--max_shard_gb"]),
      (["--from", V11, "--to_hf", files["a_file"] / "hf"], 2, [files["a_file"]]),
      (["--from", files["good"], "--to_hf", root / "hf"], 2, [files["good"]]),
  ]
  for args, status, named in cases:
    _assert_clean_error(_run("flan.convert", args, root), status, *named)
  assert not (root / "hf").exists()


def test_flan_train_bad_configuration(files):
  root = files["root"]
  gin_file = write_gin(root / "tiny.gin", num_steps=2, checkpoint_every=1)
  cases = [
      ([f"--gin.train.model_dir='{files['a_file']}'"], 2, [files["a_file"]]),
      ([f"--gin.train.model_dir='{root / 'r1'}'", "--gin.train.loss_normalizer='bogus'"], 2,
       ["train.loss_normalizer", "bogus"]),
      ([f"--gin.train.model_dir='{root / 'r2'}'", f"--gin.train.init_checkpoint='{root / 'absent'}'"], 2,
       [root / "absent"]),
      ([f"--gin.train.model_dir='{root / 'r3'}'", "--gin.train.keep_checkpoints=0"], 2, ["train.keep_checkpoints"]),
      ([f"--gin.train.model_dir='{root / 'r4'}'", "--gin.train.no_such_parameter=1"], 2, ["no_such_parameter"]),
  ]
  for args, status, named in cases:
    _assert_clean_error(_run("flan.train", [f"--gin_file={gin_file}", *args], root), status, *named)


USER_DATA_GIN = """
import flan.models.config
import flan.trainer.loop
import flan.data.user_data
train.model_config = @get_config()
train.mixture = @my/flan.data.user_data.register_user_data()
my/flan.data.user_data.register_user_data.name = "user_rows_not_text"
my/flan.data.user_data.register_user_data.files = {{"train": "{path}"}}
train.batch_size = 8
train.num_steps = 2
train.feature_lengths = {{'inputs': 16, 'targets': 16}}
train.mesh_data = 1
train.model_dir = '{model_dir}'
get_config.size = 'tiny'
get_config.vocab_size = 32128
get_config.emb_dim = 16
get_config.mlp_dim = 32
get_config.num_heads = 4
get_config.head_dim = 4
get_config.num_encoder_layers = 1
get_config.num_decoder_layers = 1
"""


def test_flan_train_user_data_row_that_is_not_text(files, shared_data, monkeypatch):
  root = files["root"]
  rows = root / "user_rows.jsonl"
  rows.write_text('{"inputs": "a", "targets": "b"}\n{"inputs": "c", "targets": ["yes", "no"]}\n')
  gin_file = root / "user_data.gin"
  gin_file.write_text(USER_DATA_GIN.format(path=rows, model_dir=root / "user_run"))
  monkeypatch.setenv("FLAN_VOCAB_PATH", str(shared_data / "t5_spiece" / "spiece.model"))
  result = _run("flan.train", [f"--gin_file={gin_file}"], root)
  _assert_clean_error(result, 2, f"{rows}:2", "'targets'", "a list")
