"""Hugging Face LlamaForCausalLM directories (config.json + safetensors, single or sharded): import to and
export from flan's decoder-only layout. Mistral directories load too when they use no sliding window.

Hugging Face `nn.Linear` weights are [out, in]; flan's kernels are [in, out] (transposed here). Query and key
projections are in Hugging Face's rotate-half rotary layout, which flan's rotary.py uses as well, so no
permutation is needed. Rotary scaling types "linear" and "llama3" (Llama 3.1 / 3.2) are implemented. Config options that would change
the math and are not implemented (other rope scaling types,
attention / MLP biases, sliding windows, quantization, ...) are refused with the key named, never ignored.
"""
import json
import os
import pathlib
from typing import Any, Mapping

import numpy as np

from flan.errors import ConfigError
from flan.models import decoder_layout, param_names
from flan.models.decoder_config import DecoderConfig
from flan.models.safetensors_io import SafetensorsReader, write_safetensors

CONFIG_FILE = "config.json"
MODEL_TYPES = ("llama", "mistral")
ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
# Keys that do not change the forward pass (bookkeeping, generation defaults, training-only dropout).
HARMLESS_KEYS = frozenset("""
_name_or_path architectures model_type transformers_version dtype torch_dtype use_cache initializer_range
max_position_embeddings bos_token_id eos_token_id pad_token_id sep_token_id decoder_start_token_id
chunk_size_feed_forward id2label label2id is_encoder_decoder is_decoder output_attentions output_hidden_states
problem_type return_dict attention_dropout pretraining_tp tokenizer_class prefix task_specific_params
finetuning_task torchscript use_bfloat16 tf_legacy_loss add_cross_attention cross_attention_hidden_size
tie_encoder_decoder pruned_heads bad_words_ids begin_suppress_tokens suppress_tokens diversity_penalty do_sample
early_stopping encoder_no_repeat_ngram_size exponential_decay_length_penalty forced_bos_token_id
forced_eos_token_id length_penalty max_length min_length no_repeat_ngram_size num_beam_groups num_beams
num_return_sequences output_scores remove_invalid_values repetition_penalty return_dict_in_generate
temperature top_k top_p typical_p is_llama_config
""".split())
HANDLED_KEYS = frozenset("""
vocab_size hidden_size intermediate_size num_hidden_layers num_attention_heads num_key_value_heads head_dim
hidden_act rms_norm_eps rope_theta rope_scaling rope_parameters tie_word_embeddings attention_bias mlp_bias
sliding_window rope_interleaved
""".split())
_LAYER_TENSORS = {  # flan name inside layers_{i} -> (Hugging Face name inside model.layers.{i}, transposed)
    "pre_attention_norm/scale": ("input_layernorm.weight", False),
    "attention/query/kernel": ("self_attn.q_proj.weight", True),
    "attention/key/kernel": ("self_attn.k_proj.weight", True),
    "attention/value/kernel": ("self_attn.v_proj.weight", True),
    "attention/out/kernel": ("self_attn.o_proj.weight", True),
    "pre_mlp_norm/scale": ("post_attention_layernorm.weight", False),
    "mlp/wi_0/kernel": ("mlp.gate_proj.weight", True),
    "mlp/wi_1/kernel": ("mlp.up_proj.weight", True),
    "mlp/wo/kernel": ("mlp.down_proj.weight", True),
}
_FIXED_TENSORS = {"token_embedder/embedding": ("model.embed_tokens.weight", False),
                  "decoder_norm/scale": ("model.norm.weight", False),
                  "logits_dense/kernel": ("lm_head.weight", True)}


def hf_name(name: str) -> tuple[str, bool]:
  """flan parameter name -> (Hugging Face tensor name, whether the tensor is transposed)."""
  if name in _FIXED_TENSORS:
    return _FIXED_TENSORS[name]
  layer, rest = name.split("/", 1)
  target, transposed = _LAYER_TENSORS[rest]
  return f"model.layers.{layer[len('layers_'):]}.{target}", transposed


def is_llama_directory(path: os.PathLike | str) -> bool:
  """True when `path` (a directory or its config.json) has a config.json of a Llama-family model."""
  path = pathlib.Path(path)
  config_path = path if path.name == CONFIG_FILE else path / CONFIG_FILE
  if not config_path.is_file():
    return False
  try:
    return json.loads(config_path.read_text()).get("model_type") in MODEL_TYPES
  except (json.JSONDecodeError, AttributeError):
    return False


# ---- config ----------------------------------------------------------------------------------------------


_ROPE_KEYS = {"default": set(), "linear": {"factor"},
              "llama3": {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}}


def _rope_fields(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
  """DecoderConfig rope fields from `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` (older
  files). Rope types other than default / linear / llama3, and keys flan does not implement, are refused."""
  fields = {"rope_theta": float(raw.get("rope_theta", 10000.0))}
  for key in ("rope_scaling", "rope_parameters"):
    section = raw.get(key)
    if section is None:
      continue
    if not isinstance(section, Mapping):
      raise ConfigError(f"{where}: key '{key}' must be an object or null, got {section!r}")
    type_key = "rope_type" if "rope_type" in section else "type"
    rope_type = section.get(type_key, "default")
    if rope_type not in _ROPE_KEYS:
      raise ConfigError(f"{where}: key '{key}.{type_key}' is {rope_type!r}; flan implements the rope types "
                        f"{sorted(_ROPE_KEYS)}, so this model would compute different logits")
    known = _ROPE_KEYS[rope_type] | {"rope_type", "type", "rope_theta"}
    unknown = sorted(set(section) - known)
    if unknown:
      raise ConfigError(f"{where}: key '{key}.{unknown[0]}' is not supported for rope type {rope_type!r}")
    if "rope_theta" in section:
      fields["rope_theta"] = float(section["rope_theta"])
    if rope_type == "default":
      continue
    fields["rope_type"] = rope_type
    fields["rope_factor"] = float(section.get("factor", 1.0))
    if rope_type == "llama3":
      missing = [k for k in ("factor", "low_freq_factor", "high_freq_factor") if k not in section]
      if missing:
        raise ConfigError(f"{where}: key '{key}.{missing[0]}' is missing (needed by rope type 'llama3')")
      fields["rope_low_freq_factor"] = float(section["low_freq_factor"])
      fields["rope_high_freq_factor"] = float(section["high_freq_factor"])
      original = section.get("original_max_position_embeddings", raw.get("max_position_embeddings"))
      if original is None:
        raise ConfigError(f"{where}: key '{key}.original_max_position_embeddings' is missing")
      fields["rope_original_max_positions"] = int(original)
  return fields


def config_from_dict(raw: Mapping[str, Any], where: str = CONFIG_FILE) -> DecoderConfig:
  """DecoderConfig of a Hugging Face Llama config dict; `where` names the file in errors."""
  model_type = raw.get("model_type")
  if model_type not in MODEL_TYPES:
    raise ConfigError(f"{where}: key 'model_type' is {model_type!r}; Llama-family models are {MODEL_TYPES}")
  for architecture in raw.get("architectures") or []:
    if architecture not in ARCHITECTURES:
      raise ConfigError(f"{where}: key 'architectures' lists {architecture!r}; supported: {ARCHITECTURES}")
  unknown = sorted(set(raw) - HARMLESS_KEYS - HANDLED_KEYS)
  if unknown:
    raise ConfigError(f"{where}: key '{unknown[0]}' is not a Llama option flan knows, so it cannot tell whether "
                      "it changes the model; refusing rather than ignoring it")
  for key in ("attention_bias", "mlp_bias"):
    if raw.get(key):
      raise ConfigError(f"{where}: key '{key}' is true; flan's decoder has no biases")
  if raw.get("rope_interleaved"):
    raise ConfigError(f"{where}: key 'rope_interleaved' is true; flan implements the rotate-half rotary layout")
  if raw.get("sliding_window") is not None:
    raise ConfigError(f"{where}: key 'sliding_window' is {raw['sliding_window']!r}; flan implements full causal "
                      "attention only")
  if raw.get("hidden_act", "silu") != "silu":
    raise ConfigError(f"{where}: key 'hidden_act' is {raw['hidden_act']!r}; flan implements 'silu' (SwiGLU)")

  def required(key):
    if key not in raw:
      raise ConfigError(f"{where}: missing key '{key}'")
    return raw[key]

  heads = int(required("num_attention_heads"))
  emb = int(required("hidden_size"))
  try:
    return DecoderConfig(
        vocab_size=int(required("vocab_size")), emb_dim=emb, num_heads=heads,
        num_kv_heads=int(raw.get("num_key_value_heads") or heads),
        head_dim=int(raw.get("head_dim") or emb // heads), mlp_dim=int(required("intermediate_size")),
        num_layers=int(required("num_hidden_layers")), rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
        mlp_activation="silu", parallel_block=False, **_rope_fields(raw, where),
        tie_embeddings=bool(raw.get("tie_word_embeddings", False)), scale_tied_logits=False)
  except ValueError as e:
    raise ConfigError(f"{where}: {e}") from e


def read_llama_config(path: os.PathLike | str) -> tuple[DecoderConfig, dict[str, Any]]:
  """(DecoderConfig, raw dict) of a Hugging Face Llama config.json."""
  path = pathlib.Path(path)
  try:
    raw = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}: not valid JSON ({e})") from e
  if not isinstance(raw, dict):
    raise ConfigError(f"{path}: expected a JSON object")
  return config_from_dict(raw, str(path)), raw


def _rope_scaling(config: DecoderConfig) -> dict[str, Any] | None:
  if config.rope_type == "default":
    return None
  scaling = {"rope_type": config.rope_type, "factor": config.rope_factor}
  if config.rope_type == "llama3":
    scaling.update(low_freq_factor=config.rope_low_freq_factor, high_freq_factor=config.rope_high_freq_factor,
                   original_max_position_embeddings=config.rope_original_max_positions)
  return scaling


def config_to_dict(config: DecoderConfig) -> dict[str, Any]:
  """The config.json transformers' LlamaConfig reads as this DecoderConfig."""
  if config.prefix_lm:
    raise ConfigError("this decoder is a prefix LM (bidirectional attention over the inputs); LlamaForCausalLM "
                      "attends causally everywhere, so an export would compute other logits")
  if config.parallel_block or config.scale_tied_logits or config.mlp_activation != "silu":
    raise ConfigError("this decoder config (parallel blocks, scaled tied logits or a non-SwiGLU MLP: the PaLM "
                      "design) has no LlamaForCausalLM equivalent; export needs the Llama design")
  return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": config.vocab_size,
          "hidden_size": config.emb_dim, "intermediate_size": config.mlp_dim,
          "num_hidden_layers": config.num_layers, "num_attention_heads": config.num_heads,
          "num_key_value_heads": config.num_kv_heads, "head_dim": config.head_dim, "hidden_act": "silu",
          "rms_norm_eps": config.rms_norm_eps, "rope_theta": config.rope_theta, "rope_scaling": _rope_scaling(config),
          "tie_word_embeddings": config.tie_embeddings, "attention_bias": False, "mlp_bias": False}


# ---- weights ---------------------------------------------------------------------------------------------


def import_llama(directory: os.PathLike | str) -> tuple[DecoderConfig, dict[str, Any]]:
  """A Hugging Face Llama directory -> (DecoderConfig, nested float32 numpy params, unscanned layout)."""
  directory = pathlib.Path(directory)
  config_path = directory / CONFIG_FILE
  if not config_path.is_file():
    raise FileNotFoundError(f"{directory}: no {CONFIG_FILE} (a Hugging Face checkpoint directory needs one)")
  config, raw = read_llama_config(config_path)
  if not list(directory.glob("*.safetensors")) and not list(directory.glob("*.safetensors.index.json")):
    raise ConfigError(f"{directory}: no *.safetensors weights (flan never unpickles .bin files; re-save the model "
                      "with save_pretrained(..., safe_serialization=True))")
  tensors = SafetensorsReader(directory)
  if not config.tie_embeddings and "lm_head.weight" not in tensors:
    raise ConfigError(f"{tensors.where()}: missing tensor 'lm_head.weight' ({config_path} says "
                      "tie_word_embeddings is false)")
  flat = {}
  for name, shape in decoder_layout.expected_shapes(config).items():
    source, transposed = hf_name(name)
    if source not in tensors:
      raise ConfigError(f"{tensors.where()}: missing tensor {source!r} (for flan parameter {name!r})")
    value = tensors.get(source)
    hf_shape = tuple(reversed(shape)) if transposed else shape
    if tuple(value.shape) != hf_shape:
      raise ConfigError(f"{tensors.file_of(source)}: tensor {source!r} has shape {tuple(value.shape)}, "
                        f"expected {hf_shape} from {config_path}")
    value = np.asarray(value, np.float32)
    flat[name] = np.ascontiguousarray(value.T) if transposed else value
  used = {hf_name(name)[0] for name in flat}
  # A tied checkpoint may still carry the (equal) lm_head copy; rotary caches are recomputed.
  ignorable = {"lm_head.weight"} if config.tie_embeddings else set()
  unexpected = [n for n in tensors.names() if n not in used and n not in ignorable
                and not n.endswith("rotary_emb.inv_freq")]
  if unexpected:
    raise ConfigError(f"{tensors.file_of(unexpected[0])}: unexpected tensor {unexpected[0]!r} for a Llama model "
                      f"with this config.json ({len(unexpected)} unexpected in all)")
  return config, param_names.unflatten(flat)


def llama_tensors(config: DecoderConfig, params: Mapping[str, Any], dtype=np.float32) -> dict[str, np.ndarray]:
  """flan params (scanned or not, boxed or not) -> {Hugging Face tensor name: array}."""
  flat = decoder_layout.flat_unscanned(config, params)
  tensors = {}
  for name in decoder_layout.expected_shapes(config):
    target, transposed = hf_name(name)
    value = flat[name].T if transposed else flat[name]
    tensors[target] = np.ascontiguousarray(value.astype(dtype))
  return tensors


def export_llama(config: DecoderConfig, params: Mapping[str, Any], out_dir: os.PathLike | str,
                 dtype: str = "float32", max_shard_bytes: int = 5 * 1024**3,
                 special_tokens: Mapping[str, Any] | None = None) -> pathlib.Path:
  """Writes config.json + model.safetensors (sharded above max_shard_bytes) that transformers loads as a
  LlamaForCausalLM. special_tokens: optional bos_token_id / eos_token_id / pad_token_id for config.json."""
  if dtype not in ("float32", "bfloat16"):
    raise ConfigError(f"export dtype must be 'float32' or 'bfloat16', got {dtype!r}")
  np_dtype = np.float32
  if dtype == "bfloat16":
    import ml_dtypes  # pylint: disable=import-outside-toplevel
    np_dtype = ml_dtypes.bfloat16
  hf_config = config_to_dict(config)
  for key, value in (special_tokens or {}).items():
    if key not in ("bos_token_id", "eos_token_id", "pad_token_id"):
      raise ConfigError(f"export special_tokens: unknown key {key!r}")
    hf_config[key] = value
  hf_config["dtype"] = dtype
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  write_safetensors(llama_tensors(config, params, np_dtype), out_dir, max_shard_bytes=max_shard_bytes)
  (out_dir / CONFIG_FILE).write_text(json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
  return out_dir
