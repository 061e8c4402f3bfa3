"""Hugging Face T5 / Flan-T5 checkpoints (config.json + safetensors): import to and export from flan's layout.

Hugging Face `nn.Linear` weights are [out, in]; flan's kernels are [in, out] (transposed here). The relative
position tables are [buckets, heads] in Hugging Face and [heads, buckets] here. Both conventions leave
attention logits unscaled, so query kernels map one to one.
"""
import json
import os
import pathlib
import re
from typing import Any, Mapping

import numpy as np

from flan.models import param_names
from flan.models.config import T5Config
from flan.models.safetensors_io import SafetensorsReader, write_safetensors

CONFIG_FILE = "config.json"
MODEL_TYPES = ("t5", "mt5")
ARCHITECTURES = ("T5ForConditionalGeneration", "T5WithLMHeadModel", "MT5ForConditionalGeneration")
FEED_FORWARD = {"gated-gelu": "gated-gelu", "relu": "relu"}
# Tensors some exports carry that transformers itself ignores or ties: the per-stack copies of the embedding and
# a cross-attention relative bias that T5 never uses.
IGNORED_TENSORS = re.compile(r"^(encoder|decoder)\.embed_tokens\.weight$"
                             r"|^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack",
                "model.ckpt.index")

_ATTENTION_HF = {"query": "q", "key": "k", "value": "v", "out": "o"}
_ENCODER_SUBLAYERS = {"pre_attention_layer_norm": "layer.0.layer_norm", "attention": "layer.0.SelfAttention",
                      "pre_mlp_layer_norm": "layer.1.layer_norm", "mlp": "layer.1.DenseReluDense"}
_DECODER_SUBLAYERS = {"pre_self_attention_layer_norm": "layer.0.layer_norm",
                      "self_attention": "layer.0.SelfAttention",
                      "pre_cross_attention_layer_norm": "layer.1.layer_norm",
                      "encoder_decoder_attention": "layer.1.EncDecAttention",
                      "pre_mlp_layer_norm": "layer.2.layer_norm", "mlp": "layer.2.DenseReluDense"}
_FIXED_NAMES = {
    "token_embedder/embedding": ("shared.weight", False),
    "encoder/relpos_bias/rel_embedding": ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                          True),
    "decoder/relpos_bias/rel_embedding": ("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                          True),
    "encoder/encoder_norm/scale": ("encoder.final_layer_norm.weight", False),
    "decoder/decoder_norm/scale": ("decoder.final_layer_norm.weight", False),
    "decoder/logits_dense/kernel": ("lm_head.weight", True),
}


def hf_name(name: str) -> tuple[str, bool]:
  """flan parameter name -> (Hugging Face tensor name, whether the tensor is transposed)."""
  if name in _FIXED_NAMES:
    return _FIXED_NAMES[name]
  stack, layer, sublayer, *rest = name.split("/")
  index = layer[len("layers_"):]
  sublayers = _ENCODER_SUBLAYERS if stack == "encoder" else _DECODER_SUBLAYERS
  prefix = f"{stack}.block.{index}.{sublayers[sublayer]}"
  if rest == ["scale"]:
    return f"{prefix}.weight", False
  module = _ATTENTION_HF.get(rest[0], rest[0])  # mlp names (wi, wi_0, wi_1, wo) are the same in both
  return f"{prefix}.{module}.weight", True


# ---- config ----------------------------------------------------------------------------------------------


def read_hf_config(path: os.PathLike | str) -> tuple[T5Config, dict[str, Any]]:
  """Parses a Hugging Face T5 config.json; returns flan's T5Config and the raw dict."""
  path = pathlib.Path(path)
  try:
    raw = json.loads(path.read_text(encoding="utf-8"))
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from e
  if not isinstance(raw, dict):
    raise ValueError(f"{path}: expected a JSON object, got {type(raw).__name__}")
  model_type = raw.get("model_type")
  if model_type not in MODEL_TYPES:
    raise ValueError(f"{path}: unsupported model_type {model_type!r} (key 'model_type'); "
                     f"supported: {', '.join(MODEL_TYPES)}")
  for architecture in raw.get("architectures") or []:
    if architecture not in ARCHITECTURES:
      raise ValueError(f"{path}: unsupported architecture {architecture!r} (key 'architectures'); "
                       f"supported: {', '.join(ARCHITECTURES)}")
  feed_forward = raw.get("feed_forward_proj", "relu")
  if feed_forward not in FEED_FORWARD:
    raise ValueError(f"{path}: unsupported feed_forward_proj {feed_forward!r} (key 'feed_forward_proj'); "
                     f"supported: {', '.join(FEED_FORWARD)}")

  try:
    config = _config_from_hf(raw, FEED_FORWARD[feed_forward])
  except (ValueError, TypeError) as e:
    message = str(e)
    for field, key in _HF_KEY_OF_FIELD.items():
      message = message.replace(f"T5Config.{field} ", f"key {key!r} (T5Config.{field}) ")
    raise ValueError(f"{path}: {message}") from e
  return config, raw


_HF_KEY_OF_FIELD = {"vocab_size": "vocab_size", "emb_dim": "d_model", "num_heads": "num_heads", "head_dim": "d_kv",
                    "mlp_dim": "d_ff", "num_encoder_layers": "num_layers",
                    "num_decoder_layers": "num_decoder_layers",
                    "relative_attention_num_buckets": "relative_attention_num_buckets",
                    "relative_attention_max_distance": "relative_attention_max_distance",
                    "layer_norm_epsilon": "layer_norm_epsilon"}


def _config_from_hf(raw: Mapping[str, Any], feed_forward: str) -> T5Config:
  def required(key):
    if key not in raw:
      raise ValueError(f"missing key {key!r}")
    return raw[key]

  num_layers = required("num_layers")
  return T5Config(
      vocab_size=required("vocab_size"),
      emb_dim=required("d_model"),
      num_heads=required("num_heads"),
      head_dim=required("d_kv"),
      mlp_dim=required("d_ff"),
      num_encoder_layers=num_layers,
      num_decoder_layers=raw.get("num_decoder_layers") or num_layers,
      relative_attention_num_buckets=raw.get("relative_attention_num_buckets", 32),
      relative_attention_max_distance=raw.get("relative_attention_max_distance", 128),
      layer_norm_epsilon=raw.get("layer_norm_epsilon", 1e-6),
      feed_forward=feed_forward,
      logits_via_embedding=False,  # decided from the tensors in import_hf
  )


def hf_config_dict(config: T5Config) -> dict[str, Any]:
  """The config.json of `config`, spelled like the published T5 v1.1 / Flan-T5 configs."""
  gated = config.feed_forward == "gated-gelu"
  return {
      "architectures": ["T5ForConditionalGeneration"],
      "model_type": "t5",
      "vocab_size": config.vocab_size,
      "d_model": config.emb_dim,
      "d_kv": config.head_dim,
      "d_ff": config.mlp_dim,
      "num_heads": config.num_heads,
      "num_layers": config.num_encoder_layers,
      "num_decoder_layers": config.num_decoder_layers,
      "relative_attention_num_buckets": config.relative_attention_num_buckets,
      "relative_attention_max_distance": config.relative_attention_max_distance,
      "layer_norm_epsilon": config.layer_norm_epsilon,
      "feed_forward_proj": config.feed_forward,
      "dense_act_fn": "gelu_new" if gated else "relu",
      "is_gated_act": gated,
      "tie_word_embeddings": config.logits_via_embedding,
      "dropout_rate": config.dropout_rate,
      "initializer_factor": 1.0,
      "is_encoder_decoder": True,
      "use_cache": True,
      "decoder_start_token_id": 0,
      "pad_token_id": 0,
      "eos_token_id": 1,
      "dtype": "float32",
  }


# ---- import ------------------------------------------------------------------------------------------------


def refuse_pickle_only(directory: pathlib.Path) -> None:
  """Raises a ValueError explaining how to convert when `directory` holds only pickle/TF/Flax weights."""
  found = [name for name in PICKLE_FILES if (directory / name).exists()]
  found += [p.name for p in directory.glob("pytorch_model-*.bin")][:1]
  if found:
    raise ValueError(
        f"{directory}: holds only {found[0]}, which flan does not read (flan never unpickles). Convert it to "
        "safetensors first, in an environment with torch and transformers:\n"
        "  python -c \"import transformers as t; t.AutoModelForSeq2SeqLM.from_pretrained('"
        f"{directory}').save_pretrained('OUT_DIR', safe_serialization=True)\"\n"
        "then copy config.json and spiece.model next to the safetensors files and load OUT_DIR.")


def _decoder_outputs_scaled(raw: Mapping[str, Any]) -> bool:
  # Original T5 scales the decoder output by d_model**-0.5 before the tied output layer; transformers 5.x
  # records that as scale_decoder_outputs, older configs only through tie_word_embeddings (default true).
  if "scale_decoder_outputs" in raw:
    return bool(raw["scale_decoder_outputs"])
  return bool(raw.get("tie_word_embeddings", True))


def import_hf(directory: os.PathLike | str) -> tuple[T5Config, dict[str, Any]]:
  """Reads a Hugging Face T5 directory -> (T5Config, nested float32 numpy params in flan's layout)."""
  directory = pathlib.Path(directory)
  config_path = directory / CONFIG_FILE
  if not config_path.exists():
    raise FileNotFoundError(f"{directory}: no {CONFIG_FILE} (a Hugging Face checkpoint directory needs one)")
  config, raw = read_hf_config(config_path)
  if not list(directory.glob("*.safetensors")) and not list(directory.glob("*.safetensors.index.json")):
    refuse_pickle_only(directory)
  tensors = SafetensorsReader(directory)

  embedding_name = "shared.weight"
  if embedding_name not in tensors and "encoder.embed_tokens.weight" in tensors:
    embedding_name = "encoder.embed_tokens.weight"  # some older exports keep only the per-stack copies
  if embedding_name not in tensors:
    raise ValueError(f"{tensors.where()}: missing tensor 'shared.weight' (the token embedding)")
  has_output_layer = "lm_head.weight" in tensors
  scaled = _decoder_outputs_scaled(raw)
  if not has_output_layer and raw.get("tie_word_embeddings") is False:
    raise ValueError(f"{tensors.where()}: missing tensor 'lm_head.weight' "
                     f"({config_path} says tie_word_embeddings=false)")
  tied = not has_output_layer or np.array_equal(tensors.get("lm_head.weight"), tensors.get(embedding_name))
  config = config.replace(logits_via_embedding=tied and scaled)

  flat = {}
  for name, shape in param_names.expected_shapes(config).items():
    source, transpose = hf_name(name)
    if name == "token_embedder/embedding":
      source = embedding_name
    if name == "decoder/logits_dense/kernel" and tied:
      source = embedding_name  # a tied output layer without the d_model**-0.5 scaling
    flat[name] = _read_tensor(tensors, source, transpose, shape, name)
  used = {hf_name(name)[0] for name in flat} | {embedding_name, "lm_head.weight"}
  unexpected = [n for n in tensors.names() if n not in used and not IGNORED_TENSORS.match(n)]
  if unexpected:
    raise ValueError(f"{tensors.file_of(unexpected[0])}: unexpected tensor {unexpected[0]!r} for a T5 with "
                     f"this config.json ({len(unexpected)} unexpected in all); is it another architecture?")
  if not tied and scaled:
    # An untied output layer applied to scaled decoder outputs: fold the scale into the kernel.
    flat["decoder/logits_dense/kernel"] *= np.float32(config.emb_dim ** -0.5)
  return config, param_names.unflatten(flat)


def _read_tensor(tensors: SafetensorsReader, source: str, transpose: bool, shape: tuple[int, ...],
                 name: str) -> np.ndarray:
  if source not in tensors:
    raise ValueError(f"{tensors.where()}: missing tensor {source!r} (for flan parameter {name!r})")
  value = tensors.get(source)
  expected_hf_shape = tuple(reversed(shape)) if transpose else shape
  if tuple(value.shape) != expected_hf_shape:
    raise ValueError(f"{tensors.file_of(source)}: tensor {source!r} has shape {tuple(value.shape)}, "
                     f"expected {expected_hf_shape} from config.json")
  value = np.asarray(value, dtype=np.float32)
  return np.ascontiguousarray(value.T) if transpose else value


# ---- export ------------------------------------------------------------------------------------------------


def _unboxed_flat_params(config: T5Config, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
  params = params.get("params", params)
  if "layers" in params.get("encoder", {}):
    from flan.models import layout  # pylint: disable=import-outside-toplevel
    params = layout.unscan_params(params, config)
  flat = {}
  for name, leaf in param_names.flatten(params).items():
    unbox = getattr(leaf, "unbox", None)  # flax Partitioned boxes
    flat[name] = np.asarray(unbox() if callable(unbox) else leaf)
  return flat


def hf_tensors(config: T5Config, params: Mapping[str, Any], dtype=np.float32) -> dict[str, np.ndarray]:
  """flan params -> {Hugging Face tensor name: array}, with the names transformers writes itself."""
  flat = _unboxed_flat_params(config, params)
  param_names.check_params(flat, config, "export_hf")
  tensors = {}
  for name in param_names.expected_shapes(config):
    target, transpose = hf_name(name)
    value = flat[name].T if transpose else flat[name]
    tensors[target] = np.ascontiguousarray(value.astype(dtype))
  return tensors


def export_hf(config: T5Config, params: Mapping[str, Any], out_dir: os.PathLike | str,
              dtype: str = "float32", max_shard_bytes: int = 5 * 1024**3) -> pathlib.Path:
  """Writes config.json + model.safetensors (sharded above max_shard_bytes) that transformers loads as is."""
  if dtype not in ("float32", "bfloat16"):
    raise ValueError(f"export_hf dtype must be 'float32' or 'bfloat16', got {dtype!r}")
  np_dtype = np.float32
  if dtype == "bfloat16":
    import ml_dtypes  # pylint: disable=import-outside-toplevel
    np_dtype = ml_dtypes.bfloat16
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  write_safetensors(hf_tensors(config, params, np_dtype), out_dir, max_shard_bytes=max_shard_bytes)
  hf_config = hf_config_dict(config)
  hf_config["dtype"] = dtype
  (out_dir / CONFIG_FILE).write_text(json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
  return out_dir
