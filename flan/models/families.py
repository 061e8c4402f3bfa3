"""One entry point over the model families: T5 (encoder-decoder) and the decoder-only (Llama-architecture)
family. Loading, scoring, prediction and Hugging Face export dispatch on the config's type, so commands
(flan-infer, flan-eval, flan-convert) need no family-specific code.

Token conventions (the `input_ids` / `target_ids` that scoring reports with with_tokens):
  t5:      input_ids = inputs + EOS (the encoder input), target_ids = targets + EOS.
  decoder: input_ids = start + inputs + EOS (start: the tokenizer's BOS convention, else seqio's 0; see
           flan.models.decoder_scoring), target_ids = targets + EOS.
"""
import os
import pathlib
from typing import Any, Optional, Sequence

from flan.errors import InputError
from flan.models import decoder_decoding, decoder_scoring, hf_llama
from flan.models.decoder_config import DecoderConfig

FAMILIES = ("t5", "decoder")


def family_of(config) -> str:
  """"decoder" for a DecoderConfig, "t5" for a T5Config."""
  from flan.models.config import T5Config  # pylint: disable=import-outside-toplevel
  if isinstance(config, DecoderConfig):
    return "decoder"
  if isinstance(config, T5Config):
    return "t5"
  raise TypeError(f"not a flan model config: {type(config).__name__}")


def model_for(config):
  """The flax module of a config: flan.models.t5.Transformer or flan.models.decoder.DecoderOnly."""
  if family_of(config) == "decoder":
    from flan.models.decoder import DecoderOnly  # pylint: disable=import-outside-toplevel
    return DecoderOnly(config)
  from flan.models.t5 import Transformer  # pylint: disable=import-outside-toplevel
  return Transformer(config)


def batch_logits(model, params, batch, *, enable_dropout: bool = False, rngs=None):
  """float32 logits [batch, length, vocab] of a model batch of either family's features (seqio's names:
  EncDecFeatureConverter's for T5, DecoderFeatureConverter / PrefixLMFeatureConverter's for the decoder;
  decoder_causal_attention, when present, is the prefix-LM mask)."""
  if family_of(model.config) == "decoder":
    return model.apply({"params": params}, batch["decoder_input_tokens"],
                       decoder_segment_ids=batch.get("decoder_segment_ids"),
                       decoder_positions=batch.get("decoder_positions"),
                       decoder_causal_attention=batch.get("decoder_causal_attention"),
                       enable_dropout=enable_dropout, rngs=rngs)
  return model.apply({"params": params}, batch["encoder_input_tokens"], batch["decoder_input_tokens"],
                     encoder_segment_ids=batch.get("encoder_segment_ids"),
                     decoder_segment_ids=batch.get("decoder_segment_ids"),
                     encoder_positions=batch.get("encoder_positions"),
                     decoder_positions=batch.get("decoder_positions"), enable_dropout=enable_dropout, rngs=rngs)


def config_from_saved_fields(fields: dict):
  """The config of a saved dataclass field dict (flan checkpoints' model_config): a DecoderConfig when it has
  decoder fields (num_kv_heads), else a T5Config. Fields this version does not know are dropped, as the T5
  reader does."""
  import dataclasses  # pylint: disable=import-outside-toplevel
  from flan.models.config import T5Config  # pylint: disable=import-outside-toplevel
  cls = DecoderConfig if "num_kv_heads" in fields else T5Config
  known = {field.name for field in dataclasses.fields(cls)}
  return cls(**{k: v for k, v in fields.items() if k in known})


def unscan_params_any(config, params):
  """The unscanned layout of a scanned parameter tree of either family."""
  if family_of(config) == "decoder":
    from flan.models import decoder_layout  # pylint: disable=import-outside-toplevel
    return decoder_layout.unscan_params(params, config)
  from flan.models import layout  # pylint: disable=import-outside-toplevel
  return layout.unscan_params(params, config)


def scan_params_any(config, params):
  """The scanned layout (for scan_layers=True) of an unscanned parameter tree of either family."""
  if family_of(config) == "decoder":
    from flan.models import decoder_layout  # pylint: disable=import-outside-toplevel
    return decoder_layout.scan_params(params, config)
  from flan.models import layout  # pylint: disable=import-outside-toplevel
  return layout.scan_params(params, config)


def _checkpoint_directory(path: pathlib.Path) -> pathlib.Path:
  return path.parent if path.is_file() else path


def load_pretrained_any(path: os.PathLike | str):
  """(config, unscanned float32 numpy params) of a Hugging Face Llama-family directory, or of anything
  flan.models.pretrained.load_pretrained reads (T5: Hugging Face, T5X, flan checkpoints)."""
  path = pathlib.Path(path)
  if hf_llama.is_llama_directory(path):
    try:
      return hf_llama.import_llama(_checkpoint_directory(path))
    except FileNotFoundError as error:
      raise InputError(str(error)) from error
  from flan.models import pretrained  # pylint: disable=import-outside-toplevel
  return pretrained.load_pretrained(path)


def load_model_any(path: os.PathLike | str, vocab: Optional[os.PathLike | str] = None):
  """(config, params, tokenizer). A Hugging Face Llama directory uses its own tokenizer (tokenizer.json or
  tokenizer.model; `vocab` may name another directory holding one); other checkpoints (T5, and flan's own of
  either family) the spiece.model beside them, else `vocab`. A tokenizer with more ids than the model has
  embeddings is refused."""
  path = pathlib.Path(path)
  config, params = load_pretrained_any(path)
  if hf_llama.is_llama_directory(path):
    from flan.models.hf_tokenizer import HfTokenizer  # pylint: disable=import-outside-toplevel
    vocab_path = pathlib.Path(vocab) if vocab is not None else _checkpoint_directory(path)
    tokenizer = HfTokenizer(vocab_path)
  else:
    from flan.models import pretrained  # pylint: disable=import-outside-toplevel
    vocab_path = pretrained.find_vocabulary(path) or vocab
    if vocab_path is None:
      raise InputError(f"{path}: no spiece.model next to the checkpoint; pass --vocab PATH (flan-eval: --spiece_model)")
    tokenizer = pretrained.open_tokenizer(vocab_path)
  if tokenizer.vocab_size > config.vocab_size:
    raise InputError(f"{vocab_path}: the tokenizer has {tokenizer.vocab_size} ids but the checkpoint {path} has "
                     f"vocab_size {config.vocab_size}; use the tokenizer the checkpoint was trained with")
  return config, params, tokenizer


def encode_pairs(config, tokenizer, pairs: Sequence[tuple[str, str]], max_input_length: Optional[int] = None):
  """(input_ids, target_ids, number of inputs cut to max_input_length) per the family's convention; long
  inputs keep their last tokens."""
  inputs_text = [p[0] for p in pairs]
  targets = [list(ids) + [tokenizer.eos_id] for ids in tokenizer.encode_batch([p[1] for p in pairs])]
  cut = 0
  inputs = []
  for ids in tokenizer.encode_batch(inputs_text):
    ids = list(ids)
    if family_of(config) == "t5":
      ids = ids + [tokenizer.eos_id]
    if max_input_length and len(ids) > max_input_length:
      ids, cut = ids[len(ids) - max_input_length:], cut + 1
    if family_of(config) == "decoder":
      ids = decoder_scoring.start_ids(tokenizer) + ids + [tokenizer.eos_id]
    inputs.append(ids)
  return inputs, targets, cut


def score_ids_any(config, params, input_ids, target_ids, *, batch_size: int = 8, mesh=None, rules=None):
  """float32 [n]: sum log p(target_ids | input_ids) for either family (ids from encode_pairs)."""
  if family_of(config) == "decoder":
    return decoder_scoring.score_token_rows(config, params, input_ids, target_ids, batch_size, mesh, rules)
  from flan.models.scoring import score_tokens  # pylint: disable=import-outside-toplevel
  return score_tokens(config, params, input_ids, target_ids, batch_size=batch_size, mesh=mesh, rules=rules)


def score_texts_any(config, params, tokenizer, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8,
                    max_input_length: Optional[int] = None, with_tokens: bool = False, mesh=None, rules=None):
  """Scores of (inputs, targets) text pairs; with with_tokens, (scores, input_ids, target_ids)."""
  input_ids, target_ids, _ = encode_pairs(config, tokenizer, list(pairs), max_input_length)
  scores = score_ids_any(config, params, input_ids, target_ids, batch_size=batch_size, mesh=mesh, rules=rules)
  return (scores, input_ids, target_ids) if with_tokens else scores


def predict_texts_any(config, params, tokenizer, inputs: Sequence[str], *, method: str = "greedy",
                      max_decode_length: int = 64, batch_size: int = 8, temperature: float = 1.0, top_k: int = 0,
                      top_p: float = 1.0, beam_size: int = 4, length_penalty: float = 0.6, seed: int = 0,
                      max_input_length: Optional[int] = None, mesh=None, rules=None) -> list[str]:
  """Decoded text per input, in input order, for either family (max_decode_length: new tokens at most)."""
  if isinstance(inputs, str):
    raise TypeError("predict_texts_any takes a list of strings, got one string")
  options = dict(method=method, temperature=temperature, top_k=top_k, top_p=top_p, beam_size=beam_size,
                 length_penalty=length_penalty, seed=seed, mesh=mesh, rules=rules)
  if family_of(config) == "t5":
    from flan.models.decoding import predict_texts  # pylint: disable=import-outside-toplevel
    return predict_texts(config, params, tokenizer, list(inputs), max_decode_length=max_decode_length,
                         batch_size=batch_size, max_input_length=max_input_length, **options)
  prompts = [decoder_scoring.prompt_ids(tokenizer, text, max_input_length) for text in inputs]
  generated = decoder_decoding.generate_from_ids(
      config, params, prompts, batch_size=batch_size, max_new_tokens=max_decode_length, eos_id=tokenizer.eos_id,
      vocab_limit=min(int(tokenizer.vocab_size), config.vocab_size), **options)
  return [tokenizer.decode(ids) for ids in generated]


def export_hf_any(config, params: Any, out_dir: os.PathLike | str, dtype: str = "float32",
                  max_shard_bytes: int = 5 * 1024**3) -> pathlib.Path:
  """Hugging Face directory (config.json + safetensors) of either family: T5ForConditionalGeneration or
  LlamaForCausalLM. Tokenizer files are the caller's to copy."""
  if family_of(config) == "decoder":
    return hf_llama.export_llama(config, params, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes)
  from flan.models import hf  # pylint: disable=import-outside-toplevel
  return hf.export_hf(config, params, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes)
