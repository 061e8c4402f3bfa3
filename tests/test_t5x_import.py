"""T5X checkpoints: the inline-msgpack layout (t5x's own tiny T5 test checkpoint) and the msgpack + zarr layout
of published checkpoints, checked against flax's and tensorstore's own readers and writers."""
import functools
import pathlib
import shutil

import flax.serialization
import jax
import msgpack
import numpy as np
import pytest
import tensorstore as ts

from flan.models import param_names, pretrained, t5x
from flan.models.msgpack_tree import read_msgpack_tree
from flan.models.scoring import score
from flan.models.t5 import Transformer
from flan.models.tokenizer import Tokenizer
from flan.models.zarr_reader import read_zarr_array


@pytest.fixture(scope="module")
def tiny_path(shared_data):
  return shared_data / "t5x_checkpoints" / "test_t5_tiny.checkpoint_0"


@pytest.fixture(scope="module")
def tiny(tiny_path):
  return t5x.import_t5x(tiny_path)


def test_msgpack_reader_equals_flax(tiny_path):
  ours = read_msgpack_tree(tiny_path)
  theirs = flax.serialization.msgpack_restore(tiny_path.read_bytes())
  ours_flat, theirs_flat = param_names.flatten(ours), param_names.flatten(theirs)
  assert ours_flat.keys() == theirs_flat.keys()
  for name, value in theirs_flat.items():
    assert np.asarray(ours_flat[name]).dtype == np.asarray(value).dtype, name
    np.testing.assert_array_equal(ours_flat[name], value, err_msg=name)


def test_msgpack_reader_reassembles_chunked_arrays(tmp_path, monkeypatch):
  monkeypatch.setattr(flax.serialization, "MAX_CHUNK_SIZE", 64)
  tree = {"big": np.arange(100, dtype=np.float32).reshape(4, 25), "small": np.ones(3, np.int32),
          "nested": {"scalar": np.float32(2.5), "bf16": np.arange(40, dtype=jax.numpy.bfloat16)}}
  path = tmp_path / "state"
  path.write_bytes(flax.serialization.msgpack_serialize(tree))
  assert b"__msgpack_chunked_array__" in path.read_bytes()
  ours = read_msgpack_tree(path)
  for name, value in param_names.flatten(tree).items():
    got = param_names.flatten(ours)[name]
    assert np.asarray(got).dtype == np.asarray(value).dtype, name
    np.testing.assert_array_equal(got, value, err_msg=name)


def test_tiny_t5_config_and_params(tiny, tiny_path):
  config, params = tiny
  assert (config.emb_dim, config.num_heads, config.head_dim, config.mlp_dim) == (8, 4, 3, 16)
  assert (config.num_encoder_layers, config.num_decoder_layers, config.vocab_size) == (2, 2, 32128)
  assert (config.feed_forward, config.logits_via_embedding, config.relative_attention_num_buckets) == (
      "gated-gelu", False, 32)
  flat = param_names.flatten(params)
  assert flat.keys() == param_names.expected_shapes(config).keys()
  raw = flax.serialization.msgpack_restore(tiny_path.read_bytes())["optimizer"]["target"]
  for name, value in param_names.flatten(raw).items():
    assert flat[name].dtype == np.float32
    np.testing.assert_array_equal(flat[name], value, err_msg=name)
  assert pretrained.checkpoint_kind(tiny_path) == "t5x"


@functools.lru_cache(maxsize=None)
def jitted_logits(config):
  return jax.jit(Transformer(config).apply)


def test_tiny_t5_scores_equal_log_softmax_of_forward_pass(tiny, shared_data):
  config, params = tiny
  config = config.replace(dtype="float32")
  tokenizer = Tokenizer(shared_data / "t5_spiece" / "spiece.model")
  pairs = [("Premise: the cat sat. Is it sitting?", "yes"),
           ("translate English to German: The house is wonderful.", "Das Haus ist wunderbar."),
           ("Q: 2+2?", "four")]
  scores = score(config, params, tokenizer, pairs, batch_size=4)
  assert scores.shape == (3,) and np.all(np.isfinite(scores)) and np.all(scores < 0)

  # Reference: one batch padded to the exact longest lengths, float64 log-softmax in numpy.
  inputs = [tokenizer.encode(a) + [1] for a, _ in pairs]
  targets = [tokenizer.encode(b) + [1] for _, b in pairs]
  encoder = np.zeros((3, max(map(len, inputs))), np.int32)
  decoder_targets = np.zeros((3, max(map(len, targets))), np.int32)
  for i, (x, y) in enumerate(zip(inputs, targets)):
    encoder[i, :len(x)] = x
    decoder_targets[i, :len(y)] = y
  decoder_inputs = np.concatenate([np.zeros((3, 1), np.int32), decoder_targets[:, :-1]], axis=1)
  logits = np.asarray(jitted_logits(config)({"params": params}, encoder, decoder_inputs), np.float64)
  log_probs = logits - logits.max(-1, keepdims=True)
  log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
  picked = np.take_along_axis(log_probs, decoder_targets[..., None], -1)[..., 0]
  expected = (picked * (decoder_targets > 0)).sum(-1)
  np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-4)


# ---- the msgpack + tensorstore/zarr layout ------------------------------------------------------------------


def test_toy_tensorstore_checkpoint_reads_back_exactly(shared_data, tmp_path):
  source = shared_data / "t5x_checkpoints" / "tiny_t5" / "checkpoint_1"
  tree = t5x.read_t5x_tree(source)
  states = tree["optimizer"]["state"]["param_states"]
  assert states["kernel"].dtype == np.float64 and states["kernel"].shape == (10, 5)
  np.testing.assert_array_equal(states["bias"], np.ones(5, np.float32))
  assert states["step"].dtype == np.int32 and int(states["step"]) == 1
  assert int(tree["optimizer"]["state"]["step"]) == 1
  # tensorstore reads the same files (from a copy: it writes the .zarray these specs imply).
  copy = tmp_path / "checkpoint_1"
  shutil.copytree(source, copy)
  specs = read_msgpack_tree(copy / "checkpoint")["optimizer"]["state"]["param_states"]
  for name, spec in specs.items():
    ts_spec = {"driver": "zarr", "dtype": spec["dtype"], "metadata": spec["metadata"],
               "kvstore": {"driver": "file", "path": str(copy / spec["kvstore"]["path"])}}
    expected = ts.open(ts_spec, open=True, create=True).result().read().result()
    assert states[name].dtype == expected.dtype, name
    np.testing.assert_array_equal(states[name], expected, err_msg=name)


@pytest.mark.parametrize("dtype,order", [("float32", "C"), ("bfloat16", "F"), ("int32", "C")])
def test_zarr_reader_equals_tensorstore_on_edge_chunks(tmp_path, dtype, order):
  values = (np.arange(7 * 5 * 3).reshape(7, 5, 3) - 40).astype(jax.numpy.dtype(dtype))
  spec = {"driver": "zarr", "dtype": dtype, "kvstore": {"driver": "file", "path": "arr/"},
          "metadata": {"shape": [7, 5, 3], "chunks": [3, 2, 3], "compressor": {"id": "gzip", "level": 1},
                       "order": order}}
  store = ts.open({**spec, "kvstore": {"driver": "file", "path": str(tmp_path / "arr")}},
                  create=True).result()
  store[:6].write(values[:6]).result()  # chunks of the last row block stay unwritten: fill value 0
  got = read_zarr_array({**spec, "metadata": {}}, tmp_path)  # metadata from the .zarray tensorstore wrote
  expected = store.read().result()
  assert got.dtype == expected.dtype
  np.testing.assert_array_equal(got, expected)
  assert np.all(got[6:] == 0)


def write_zarr_layout_checkpoint(params, directory: pathlib.Path):
  """A T5X checkpoint in the published layout, arrays written by tensorstore (chunks smaller than arrays)."""
  directory.mkdir(parents=True)
  target = {}
  for name, value in param_names.flatten(params).items():
    relative = "target." + name.replace("/", ".") + "/"
    chunks = [max(1, d // 2) for d in value.shape]
    spec = {"driver": "zarr", "dtype": "float32", "kvstore": {"driver": "file", "path": relative},
            "metadata": {"shape": list(value.shape), "chunks": chunks,
                         "compressor": {"id": "gzip", "level": 1}}}
    store = ts.open({**spec, "kvstore": {"driver": "file", "path": str(directory / relative)}},
                    create=True).result()
    store.write(value).result()
    node = target
    for part in name.split("/")[:-1]:
      node = node.setdefault(part, {})
    node[name.split("/")[-1]] = spec
  (directory / "checkpoint").write_bytes(
      msgpack.packb({"version": 3, "optimizer": {"target": target, "state": {"step": 7}}}))


def test_zarr_layout_t5_checkpoint_imports_identically(tiny, tmp_path):
  config, params = tiny
  directory = tmp_path / "model" / "checkpoint_7"
  write_zarr_layout_checkpoint(params, directory)
  assert pretrained.checkpoint_kind(directory) == "t5x"
  again_config, again = pretrained.load_pretrained(directory)
  assert again_config == config
  jax.tree.map(np.testing.assert_array_equal, again, params)


# ---- bad checkpoints ----------------------------------------------------------------------------------------


def write_inline_checkpoint(flat, path):
  target = param_names.unflatten(flat)
  path.write_bytes(flax.serialization.msgpack_serialize({"version": 3, "optimizer": {"target": target}}))


def test_missing_parameter_is_named(tiny, tmp_path):
  flat = param_names.flatten(tiny[1])
  del flat["decoder/layers_1/encoder_decoder_attention/value/kernel"]
  write_inline_checkpoint(flat, tmp_path / "checkpoint")
  with pytest.raises(ValueError, match="missing parameter 'decoder/layers_1/encoder_decoder_attention/value/kernel'"):
    t5x.import_t5x(tmp_path)


def test_wrong_shape_is_named(tiny, tmp_path):
  flat = param_names.flatten(tiny[1])
  flat["encoder/layers_0/mlp/wo/kernel"] = np.zeros((15, 8), np.float32)
  write_inline_checkpoint(flat, tmp_path / "checkpoint")
  with pytest.raises(ValueError, match=r"'encoder/layers_0/mlp/wo/kernel' has shape \(15, 8\), expected \(16, 8\)"):
    t5x.import_t5x(tmp_path / "checkpoint")


def test_missing_zarr_array_directory_is_named(tiny, tmp_path):
  directory = tmp_path / "checkpoint_7"
  write_zarr_layout_checkpoint(tiny[1], directory)
  shutil.rmtree(directory / "target.token_embedder.embedding")
  with pytest.raises(FileNotFoundError, match="target.token_embedder.embedding"):
    t5x.import_t5x(directory)


def test_scanned_and_foreign_checkpoints_are_refused(tmp_path):
  write_inline_checkpoint({"encoder/layers/attention/query/kernel": np.zeros((2, 4, 4), np.float32),
                           "token_embedder/embedding": np.zeros((8, 4), np.float32)}, tmp_path / "checkpoint")
  with pytest.raises(ValueError, match="scanned"):
    t5x.import_t5x(tmp_path)
  other = tmp_path / "other"
  other.write_bytes(msgpack.packb({"version": 3, "state": {}}))
  with pytest.raises(ValueError, match="optimizer/target"):
    t5x.import_t5x(other)
  (tmp_path / "garbage").write_bytes(b"\x81\xa1a")
  with pytest.raises(ValueError, match="garbage"):
    t5x.import_t5x(tmp_path / "garbage")
