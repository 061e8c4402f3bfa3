"""Hugging Face import/export against golden fixtures written by transformers (tests/make_hf_fixture.py)."""
import functools
import json
import pathlib
import pickle
import shutil

import jax
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from flan import convert
from flan.models import hf, param_names, pretrained
from flan.models.t5 import Transformer

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
V11 = FIXTURES / "hf_tiny_t5"
TIED = FIXTURES / "hf_tiny_t5_tied"


@functools.lru_cache(maxsize=None)
def jitted_apply(config):
  return jax.jit(Transformer(config.replace(dtype="float32")).apply)


def forward(config, params, golden):
  return np.asarray(jitted_apply(config)({"params": params}, golden["encoder_input_tokens"],
                                         golden["decoder_input_tokens"]))


def log_softmax64(logits):
  x = logits.astype(np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def copy_fixture(src, dst):
  shutil.copytree(src, dst)
  return dst


@pytest.mark.parametrize("fixture", [V11, TIED], ids=["v1_1_untied", "original_tied"])
def test_logits_and_losses_match_transformers(fixture):
  config, params = hf.import_hf(fixture)
  golden = np.load(fixture / "golden.npz")
  weights = golden["decoder_loss_weights"]
  logits = forward(config, params, golden)
  assert np.abs(logits * weights[..., None] - golden["logits"]).max() < 1e-4
  log_probs = log_softmax64(logits)
  targets = golden["decoder_target_tokens"]
  losses = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0] * weights
  np.testing.assert_allclose(losses, golden["per_token_loss"], atol=1e-4)


def test_imported_configs():
  config, _ = hf.import_hf(V11)
  assert (config.emb_dim, config.mlp_dim, config.num_heads, config.head_dim) == (32, 48, 4, 6)
  assert (config.num_encoder_layers, config.num_decoder_layers, config.vocab_size) == (2, 2, 256)
  assert (config.feed_forward, config.logits_via_embedding) == ("gated-gelu", False)
  assert (config.relative_attention_num_buckets, config.relative_attention_max_distance) == (32, 128)
  tied, params = hf.import_hf(TIED)
  assert (tied.feed_forward, tied.logits_via_embedding, tied.num_decoder_layers) == ("relu", True, 1)
  assert "logits_dense" not in params["decoder"]
  assert set(params["encoder"]["layers_0"]["mlp"]) == {"wi", "wo"}


def test_sharded_safetensors_import_equals_single_file(tmp_path):
  tensors = load_file(V11 / "model.safetensors")
  names = sorted(tensors)
  shards = {"model-00001-of-00003.safetensors": names[:10], "model-00002-of-00003.safetensors": names[10:30],
            "model-00003-of-00003.safetensors": names[30:]}
  weight_map = {}
  for file_name, shard_names in shards.items():
    save_file({n: tensors[n] for n in shard_names}, str(tmp_path / file_name), metadata={"format": "pt"})
    weight_map.update({n: file_name for n in shard_names})
  (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
  shutil.copy(V11 / "config.json", tmp_path / "config.json")
  _, sharded = hf.import_hf(tmp_path)
  _, single = hf.import_hf(V11)
  jax.tree.map(np.testing.assert_array_equal, sharded, single)
  (tmp_path / "model-00002-of-00003.safetensors").unlink()
  with pytest.raises(FileNotFoundError, match="model-00002-of-00003.safetensors"):
    hf.import_hf(tmp_path)


@pytest.mark.parametrize("fixture", [V11, TIED], ids=["v1_1_untied", "original_tied"])
def test_export_writes_the_names_and_shapes_transformers_writes(fixture, tmp_path):
  config, params = hf.import_hf(fixture)
  hf.export_hf(config, params, tmp_path)
  exported = load_file(tmp_path / "model.safetensors")
  original = load_file(fixture / "model.safetensors")
  assert {k: v.shape for k, v in exported.items()} == {k: v.shape for k, v in original.items()}
  for name, value in original.items():
    np.testing.assert_array_equal(exported[name], value, err_msg=name)
  written = json.loads((tmp_path / "config.json").read_text())
  reference = json.loads((fixture / "config.json").read_text())
  for key in ("model_type", "architectures", "d_model", "d_ff", "d_kv", "num_heads", "num_layers",
              "num_decoder_layers", "vocab_size", "feed_forward_proj", "tie_word_embeddings",
              "relative_attention_num_buckets", "relative_attention_max_distance", "dense_act_fn",
              "is_gated_act", "layer_norm_epsilon", "decoder_start_token_id", "eos_token_id", "pad_token_id"):
    assert written[key] == reference[key], key


@pytest.mark.parametrize("fixture", [V11, TIED], ids=["v1_1_untied", "original_tied"])
def test_export_then_import_is_identical(fixture, tmp_path):
  config, params = hf.import_hf(fixture)
  hf.export_hf(config, params, tmp_path / "single")
  hf.export_hf(config, params, tmp_path / "sharded", max_shard_bytes=8_000)
  assert len(list((tmp_path / "sharded").glob("model-*-of-*.safetensors"))) > 2
  for out in ("single", "sharded"):
    again_config, again = hf.import_hf(tmp_path / out)
    assert again_config == config
    assert param_names.flatten(again).keys() == param_names.flatten(params).keys()
    jax.tree.map(np.testing.assert_array_equal, again, params)


def test_export_accepts_flax_boxed_params(tmp_path):
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  config, params = hf.import_hf(TIED)
  boxed = jax.tree.map(lambda x: nn.Partitioned(x, names=(None,) * x.ndim), params)
  hf.export_hf(config, {"params": boxed}, tmp_path)
  _, again = hf.import_hf(tmp_path)
  jax.tree.map(np.testing.assert_array_equal, again, params)


def test_bfloat16_export_reimports_rounded(tmp_path):
  import ml_dtypes  # pylint: disable=import-outside-toplevel
  config, params = hf.import_hf(TIED)
  hf.export_hf(config, params, tmp_path, dtype="bfloat16")
  assert load_file(tmp_path / "model.safetensors")["shared.weight"].dtype == ml_dtypes.bfloat16
  _, again = hf.import_hf(tmp_path)
  rounded = params["token_embedder"]["embedding"].astype(ml_dtypes.bfloat16).astype(np.float32)
  np.testing.assert_array_equal(again["token_embedder"]["embedding"], rounded)


def test_untied_output_layer_with_scaled_decoder_outputs_folds_the_scale(tmp_path):
  # transformers reads tie_word_embeddings=true (no scale_decoder_outputs) as "scale the decoder output by
  # d_model**-0.5"; with a separate lm_head.weight that scale multiplies the v1.1 logits.
  directory = copy_fixture(V11, tmp_path / "m")
  config_path = directory / "config.json"
  raw = json.loads(config_path.read_text())
  raw["tie_word_embeddings"] = True
  config_path.write_text(json.dumps(raw))
  config, params = hf.import_hf(directory)
  assert not config.logits_via_embedding
  golden = np.load(V11 / "golden.npz")
  logits = forward(config, params, golden) * golden["decoder_loss_weights"][..., None]
  np.testing.assert_allclose(logits, golden["logits"] * 32**-0.5, atol=1e-5)


def test_tied_output_layer_without_scaling_becomes_an_untied_copy(tmp_path):
  directory = copy_fixture(TIED, tmp_path / "m")
  config_path = directory / "config.json"
  raw = json.loads(config_path.read_text())
  raw["scale_decoder_outputs"] = False
  config_path.write_text(json.dumps(raw))
  config, params = hf.import_hf(directory)
  assert not config.logits_via_embedding
  np.testing.assert_array_equal(params["decoder"]["logits_dense"]["kernel"],
                                params["token_embedder"]["embedding"].T)
  golden = np.load(TIED / "golden.npz")
  logits = forward(config, params, golden) * golden["decoder_loss_weights"][..., None]
  np.testing.assert_allclose(logits, golden["logits"] * 16**0.5, atol=1e-4)


# ---- bad checkpoints ----------------------------------------------------------------------------------------


def rewrite_tensors(directory, change):
  path = directory / "model.safetensors"
  tensors = load_file(path)
  change(tensors)
  save_file(tensors, str(path), metadata={"format": "pt"})


def rewrite_config(directory, **changes):
  path = directory / "config.json"
  raw = json.loads(path.read_text())
  for key, value in changes.items():
    if value is None:
      raw.pop(key)
    else:
      raw[key] = value
  path.write_text(json.dumps(raw))


def test_missing_tensor_is_named(tmp_path):
  directory = copy_fixture(V11, tmp_path / "m")
  rewrite_tensors(directory, lambda t: t.pop("decoder.block.1.layer.1.EncDecAttention.k.weight"))
  with pytest.raises(ValueError, match=r"missing tensor 'decoder\.block\.1\.layer\.1\.EncDecAttention\.k\.weight'"):
    hf.import_hf(directory)


def test_missing_embedding_is_named(tmp_path):
  directory = copy_fixture(V11, tmp_path / "m")
  rewrite_tensors(directory, lambda t: t.pop("shared.weight"))
  with pytest.raises(ValueError, match=r"missing tensor 'shared\.weight'"):
    hf.import_hf(directory)


def test_missing_untied_output_layer_is_named(tmp_path):
  directory = copy_fixture(V11, tmp_path / "m")
  rewrite_tensors(directory, lambda t: t.pop("lm_head.weight"))
  with pytest.raises(ValueError, match=r"missing tensor 'lm_head\.weight'"):
    hf.import_hf(directory)


def test_wrong_shape_names_tensor_and_file(tmp_path):
  directory = copy_fixture(V11, tmp_path / "m")
  name = "encoder.block.0.layer.1.DenseReluDense.wi_1.weight"
  rewrite_tensors(directory, lambda t: t.update({name: t[name][:40]}))
  with pytest.raises(ValueError, match=rf"model\.safetensors: tensor '{name}' has shape \(40, 32\), expected \(48, 32\)"):
    hf.import_hf(directory)


def test_unexpected_tensor_is_named(tmp_path):
  directory = copy_fixture(V11, tmp_path / "m")
  name = "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"  # per-layer bias (UMT5)
  rewrite_tensors(directory, lambda t: t.update({name: np.zeros((32, 4), np.float32),
                                                 "encoder.embed_tokens.weight": t["shared.weight"]}))
  with pytest.raises(ValueError, match=rf"unexpected tensor '{name}'"):
    hf.import_hf(directory)


@pytest.mark.parametrize("key,value", [
    ("architectures", ["BartForConditionalGeneration"]),
    ("model_type", "bart"),
    ("feed_forward_proj", "gated-silu"),
    ("d_model", None),
    ("num_heads", 0),
])
def test_unsupported_config_names_the_key(tmp_path, key, value):
  directory = copy_fixture(V11, tmp_path / "m")
  rewrite_config(directory, **{key: value})
  with pytest.raises(ValueError, match=f"'{key}'"):
    hf.import_hf(directory)


def test_pickle_checkpoints_are_refused_without_unpickling(tmp_path):
  sentinel = tmp_path / "unpickled"

  class Trap:
    def __reduce__(self):
      return (pathlib.Path.touch, (sentinel,))

  directory = tmp_path / "torch_only"
  directory.mkdir()
  shutil.copy(V11 / "config.json", directory / "config.json")
  (directory / "pytorch_model.bin").write_bytes(pickle.dumps(Trap()))
  with pytest.raises(ValueError, match=r"pytorch_model\.bin.*never unpickles.*safetensors"):
    hf.import_hf(directory)
  with pytest.raises(ValueError, match=r"pytorch_model\.bin.*never unpickles.*safetensors"):
    pretrained.load_pretrained(directory)
  with pytest.raises(ValueError, match=r"never unpickles.*safetensors"):
    pretrained.load_pretrained(directory / "pytorch_model.bin")
  assert not sentinel.exists()


def test_load_pretrained_detects_hugging_face_directories():
  assert pretrained.checkpoint_kind(V11) == "hf"
  config, params = pretrained.load_pretrained(V11)
  expected_config, expected = hf.import_hf(V11)
  assert config == expected_config
  jax.tree.map(np.testing.assert_array_equal, params, expected)


def test_unknown_directory_is_refused(tmp_path):
  with pytest.raises(ValueError, match="found no checkpoint"):
    pretrained.load_pretrained(tmp_path)
  with pytest.raises(FileNotFoundError, match="no such checkpoint"):
    pretrained.load_pretrained(tmp_path / "absent")


def test_convert_cli_hf_to_hf_and_a_vocabulary_larger_than_the_model_is_refused(tmp_path, shared_data, capsys):
  vocab = shared_data / "t5_spiece" / "spiece.model"  # 32,100 ids; the fixture has 256 embeddings
  assert convert.main(["--from", str(V11), "--to_hf", str(tmp_path / "bad"), "--vocab", str(vocab)]) == 2
  err = capsys.readouterr().err
  assert "32100 ids" in err and "vocab_size 256" in err and "Traceback" not in err
  assert not (tmp_path / "bad").exists()
  out = tmp_path / "out"
  assert convert.main(["--from", str(V11), "--to_hf", str(out)]) == 0
  assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
  _, params = hf.import_hf(out)
  _, expected = hf.import_hf(V11)
  jax.tree.map(np.testing.assert_array_equal, params, expected)
  assert convert.main(["--from", str(tmp_path / "absent"), "--to_hf", str(tmp_path / "x")]) == 2


def test_export_of_scanned_params_unscans_them(tmp_path):
  from flan.models import layout  # pylint: disable=import-outside-toplevel
  config, params = hf.import_hf(V11)
  scanned_config = config.replace(scan_layers=True)
  hf.export_hf(scanned_config, layout.scan_params(params, scanned_config), tmp_path)
  _, again = hf.import_hf(tmp_path)
  jax.tree.map(np.testing.assert_array_equal, again, params)


def test_convert_into_an_older_sharded_export_leaves_one_consistent_set(tmp_path):
  out = tmp_path / "out"
  # an older export, sharded (tiny shards), in the target directory
  assert convert.main(["--from", str(V11), "--to_hf", str(out), "--max_shard_gb", "0.00001"]) == 0
  assert (out / "model.safetensors.index.json").exists()
  source = copy_fixture(V11, tmp_path / "changed")
  rewrite_tensors(source, lambda tensors: tensors.update({k: v * 2 for k, v in tensors.items()}))
  assert convert.main(["--from", str(source), "--to_hf", str(out)]) == 2  # non-empty: refused, untouched
  assert (out / "model.safetensors.index.json").exists()
  assert convert.main(["--from", str(source), "--to_hf", str(out), "--overwrite"]) == 0
  assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging directory left behind
  _, params = hf.import_hf(out)
  _, expected = hf.import_hf(source)
  jax.tree.map(np.testing.assert_array_equal, params, expected)
  config, params = hf.import_hf(V11)
  with pytest.raises(ValueError, match="already holds weight files"):  # the library refuses too
    hf.export_hf(config, params, out)


@pytest.mark.parametrize("target", ["same", "parent"])
def test_convert_refuses_to_write_over_its_source(tmp_path, capsys, target):
  source = copy_fixture(V11, tmp_path / "model")
  before = {p.name: p.read_bytes() for p in source.iterdir()}
  out = source if target == "same" else tmp_path
  assert convert.main(["--from", str(source), "--to_hf", str(out), "--dtype", "bfloat16", "--overwrite"]) == 2
  assert "holds the source checkpoint" in capsys.readouterr().err
  assert {p.name: p.read_bytes() for p in source.iterdir()} == before


@pytest.mark.parametrize("value", ["-1", "0", "x"])
def test_convert_refuses_a_shard_size_that_is_not_positive(tmp_path, capsys, value):
  with pytest.raises(SystemExit) as raised:
    convert.main(["--from", str(V11), "--to_hf", str(tmp_path / "out"), "--max_shard_gb", value])
  assert raised.value.code == 2 and "--max_shard_gb" in capsys.readouterr().err


def test_the_model_layer_reads_flan_checkpoints_without_importing_the_trainer():
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  code = ("import sys, flan.models.pretrained, flan.native_checkpoint; "
          "print(sorted(m for m in sys.modules if m.startswith('flan.trainer')))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=pathlib.Path(__file__).resolve().parents[1])
  assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("content", [b"\xff\xfe{}", b"[1, 2]"])
def test_a_config_json_that_is_not_a_json_object_is_named(tmp_path, content):
  directory = copy_fixture(V11, tmp_path / "model")
  (directory / "config.json").write_bytes(content)
  with pytest.raises(ValueError, match=r"config\.json: (not valid JSON|expected a JSON object)"):
    pretrained.load_pretrained(directory)
