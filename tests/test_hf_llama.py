"""Hugging Face Llama interop (config, weights, export, tokenizer) and the family-neutral entry points."""
import json
import pathlib
import shutil

import numpy as np
import pytest

from flan.errors import ConfigError, InputError, run_command
from flan.models import decoder_layout, decoder_scoring, families, hf_llama
from flan.models.decoder_config import DecoderConfig, get_decoder_config
from flan.models.decoder_decoding import generate_from_ids
from flan.models.hf_tokenizer import HfTokenizer

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
LLAMA = FIXTURES / "hf_tiny_llama"
TIED = FIXTURES / "hf_tiny_llama_tied"


def copy_fixture(tmp_path, source=LLAMA, **config_changes):
  target = tmp_path / source.name
  shutil.copytree(source, target)
  raw = json.loads((target / "config.json").read_text())
  for key, value in config_changes.items():
    if value is None and key.startswith("-"):
      raw.pop(key[1:], None)
    else:
      raw[key] = value
  (target / "config.json").write_text(json.dumps(raw))
  return target


def test_import_reads_the_architecture_from_config_json():
  config, params = hf_llama.import_llama(LLAMA)
  assert (config.num_heads, config.num_kv_heads, config.head_dim, config.emb_dim) == (4, 2, 16, 32)
  assert not config.tie_embeddings and config.rms_norm_eps == 1e-5 and config.rope_theta == 10000.0
  assert params["layers_1"]["attention"]["key"]["kernel"].shape == (32, 32)
  tied, tied_params = hf_llama.import_llama(TIED)
  assert tied.tie_embeddings and tied.num_kv_heads == 1 and tied.rope_theta == 500000.0
  assert "logits_dense" not in tied_params


@pytest.mark.parametrize("source", [LLAMA, TIED])
def test_export_round_trips_single_and_sharded(tmp_path, source):
  config, params = hf_llama.import_llama(source)
  single = hf_llama.export_llama(config, params, tmp_path / "single")
  sharded = hf_llama.export_llama(config, decoder_layout.scan_params(params, config), tmp_path / "sharded",
                                  max_shard_bytes=20_000)
  assert (sharded / "model.safetensors.index.json").is_file() and not (single / "model.safetensors.index.json").exists()
  for out in (single, sharded):
    again_config, again = hf_llama.import_llama(out)
    assert again_config == config
    flat, flat_again = decoder_layout.flat_unscanned(config, params), decoder_layout.flat_unscanned(config, again)
    for name, value in flat.items():
      np.testing.assert_array_equal(flat_again[name], value)
  written = json.loads((single / "config.json").read_text())
  assert written["model_type"] == "llama" and written["tie_word_embeddings"] == config.tie_embeddings
  half_config, half = hf_llama.import_llama(hf_llama.export_llama(config, params, tmp_path / "bf16", dtype="bfloat16"))
  np.testing.assert_allclose(half["token_embedder"]["embedding"], params["token_embedder"]["embedding"], rtol=1e-2)


@pytest.mark.parametrize("changes, key", [
    (dict(rope_scaling={"type": "yarn", "factor": 4.0}), "rope_scaling.type"),
    (dict(rope_parameters={"rope_type": "dynamic", "rope_theta": 5e5, "factor": 8.0}), "rope_parameters.rope_type"),
    (dict(rope_parameters={"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0}),
     "rope_parameters.low_freq_factor"),
    (dict(rope_scaling={"type": "linear", "factor": 2.0, "finetuned": True}), "rope_scaling.finetuned"),
    (dict(attention_bias=True), "attention_bias"),
    (dict(mlp_bias=True), "mlp_bias"),
    (dict(sliding_window=4096), "sliding_window"),
    (dict(hidden_act="gelu"), "hidden_act"),
    (dict(use_qk_norm=True), "use_qk_norm"),
    (dict(rope_interleaved=True), "rope_interleaved"),
    (dict(model_type="gpt2"), "model_type"),
    (dict(architectures=["LlamaForSequenceClassification"]), "architectures"),
])
def test_config_options_that_change_the_math_are_refused_by_key(tmp_path, changes, key):
  directory = copy_fixture(tmp_path, **changes)
  with pytest.raises(ConfigError, match=f"key '{key}'"):
    hf_llama.import_llama(directory)


def test_rope_scaling_reads_both_config_spellings_and_exports(tmp_path):
  legacy = copy_fixture(tmp_path, FIXTURES / "hf_tiny_llama3", **{"-rope_parameters": None}, rope_theta=5e5,
                        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
  modern, _ = hf_llama.import_llama(FIXTURES / "hf_tiny_llama3")
  assert hf_llama.import_llama(legacy)[0] == modern
  assert (modern.rope_type, modern.rope_factor, modern.rope_original_max_positions) == ("llama3", 8.0, 64)
  exported = hf_llama.config_to_dict(modern)
  assert exported["rope_scaling"]["rope_type"] == "llama3" and exported["rope_theta"] == 5e5
  linear = hf_llama.config_from_dict(dict(json.loads((LLAMA / "config.json").read_text()),
                                          rope_scaling={"type": "linear", "factor": 2.0}))
  assert (linear.rope_type, linear.rope_factor) == ("linear", 2.0)
  np.testing.assert_allclose(linear.rope_frequencies() * 2.0, linear.replace(rope_type="default").rope_frequencies())


def test_mistral_without_a_sliding_window_and_smollm_keys_load(tmp_path):
  expected, _ = hf_llama.import_llama(LLAMA)
  mistral = copy_fixture(tmp_path, model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=None)
  assert hf_llama.import_llama(mistral)[0] == expected
  smollm = copy_fixture(tmp_path / "smol", is_llama_config=True, rope_interleaved=False)
  assert hf_llama.import_llama(smollm)[0] == expected


def test_a_bad_config_is_one_line_naming_the_key_and_exit_2(tmp_path, capsys):
  directory = copy_fixture(tmp_path, rope_scaling={"type": "yarn", "factor": 4.0})
  status = run_command("flan-infer", lambda argv: families.load_pretrained_any(directory), [])
  err = capsys.readouterr().err.strip()
  assert status == 2 and len(err.splitlines()) == 1
  assert "rope_scaling.type" in err and "config.json" in err and "Traceback" not in err


def test_missing_or_misshapen_tensors_are_refused(tmp_path):
  directory = copy_fixture(tmp_path, intermediate_size=40)
  with pytest.raises(ConfigError, match="mlp.gate_proj.weight' has shape"):
    hf_llama.import_llama(directory)
  config, params = hf_llama.import_llama(LLAMA)
  tensors = hf_llama.llama_tensors(config, params)
  del tensors["lm_head.weight"]
  from flan.models.safetensors_io import write_safetensors  # pylint: disable=import-outside-toplevel
  no_head = tmp_path / "no_head"
  write_safetensors(tensors, no_head)
  (no_head / "config.json").write_text((LLAMA / "config.json").read_text())
  with pytest.raises(ConfigError, match="lm_head.weight"):
    hf_llama.import_llama(no_head)
  pickled = tmp_path / "pickled"
  pickled.mkdir()
  (pickled / "config.json").write_text((LLAMA / "config.json").read_text())
  (pickled / "pytorch_model.bin").write_bytes(b"not read")
  with pytest.raises(ConfigError, match="never unpickles"):
    hf_llama.import_llama(pickled)


def test_export_refuses_designs_llama_cannot_express():
  for changes in (dict(parallel_block=True), dict(prefix_lm=True)):
    config = get_decoder_config("tiny", vocab_size=16, **changes)
    with pytest.raises(ConfigError):
      hf_llama.config_to_dict(config)


# ---- tokenizer -------------------------------------------------------------------------------------------


def test_tokenizer_json_follows_the_checkpoint_bos_convention():
  tokenizer = HfTokenizer(LLAMA)
  assert tokenizer.start_ids == [1] and tokenizer.bos_id == 1 and tokenizer.eos_id == 2
  ids = tokenizer.encode("the cat sat on the mat")
  assert ids and 1 not in ids and 2 not in ids
  assert tokenizer.decode(ids + [2] + ids) == "the cat sat on the mat"
  assert tokenizer.encode_batch(["the cat", "a dog"]) == [tokenizer.encode("the cat"), tokenizer.encode("a dog")]
  assert decoder_scoring.prompt_ids(tokenizer, "the cat") == [1] + tokenizer.encode("the cat") + [2]


def test_sentencepiece_tokenizer_model(tmp_path, shared_data):
  shutil.copy(shared_data / "t5_spiece" / "spiece.model", tmp_path / "tokenizer.model")
  tokenizer = HfTokenizer(tmp_path)
  assert tokenizer.eos_id == 1 and tokenizer.start_ids == []  # the T5 model has no BOS piece
  assert tokenizer.decode(tokenizer.encode("Hello world") + [1, 5, 6]) == "Hello world"


def test_missing_tokenizer_files_are_named(tmp_path):
  with pytest.raises(ConfigError, match="tokenizer.json or tokenizer.model"):
    HfTokenizer(tmp_path)


# ---- family-neutral entry points -------------------------------------------------------------------------


def test_families_score_and_predict_a_llama_directory():
  config, params, tokenizer = families.load_model_any(LLAMA)
  assert families.family_of(config) == "decoder" and isinstance(config, DecoderConfig)
  config = config.replace(dtype="float32")
  pairs = [("the cat sat", "on the mat"), ("what is the answer", "yes")]
  scores, input_ids, target_ids = families.score_texts_any(config, params, tokenizer, pairs, with_tokens=True)
  assert input_ids[0] == [1] + tokenizer.encode("the cat sat") + [2]
  assert target_ids[1] == tokenizer.encode("yes") + [2]
  np.testing.assert_allclose(scores, decoder_scoring.score_token_rows(config, params, input_ids, target_ids))
  assert np.all(scores < 0)
  texts = families.predict_texts_any(config, params, tokenizer, [p[0] for p in pairs], max_decode_length=6)
  generated = generate_from_ids(config, params, input_ids, max_new_tokens=6, eos_id=2, vocab_limit=tokenizer.vocab_size)
  assert texts == [tokenizer.decode(ids) for ids in generated]
  _, cut_inputs, _ = families.score_texts_any(config, params, tokenizer, pairs, max_input_length=1, with_tokens=True)
  assert cut_inputs[0] == [1, tokenizer.encode("the cat sat")[-1], 2]


class CharTokenizer:
  """Characters as ids 2..201 (EOS 1): enough of the Tokenizer interface for the tiny T5 fixture's 256 ids."""
  eos_id = 1
  vocab_size = 202

  def encode(self, text):
    return [2 + ord(c) % 200 for c in text]

  def encode_batch(self, texts):
    return [self.encode(t) for t in texts]


def test_families_keep_the_t5_conventions():
  from flan.models import scoring  # pylint: disable=import-outside-toplevel
  config, params = families.load_pretrained_any(FIXTURES / "hf_tiny_t5")
  assert families.family_of(config) == "t5"
  tokenizer = CharTokenizer()
  scores, input_ids, target_ids = families.score_texts_any(config, params, tokenizer, [("hello", "world")],
                                                           with_tokens=True)
  assert input_ids == [tokenizer.encode("hello") + [1]] and target_ids == [tokenizer.encode("world") + [1]]
  np.testing.assert_allclose(scores, scoring.score_tokens(config, params, input_ids, target_ids))
  # Start id 0 and the EOS separator for a decoder trained on a vocabulary without a BOS convention.
  assert decoder_scoring.prompt_ids(tokenizer, "hi") == [0] + tokenizer.encode("hi") + [1]


def test_load_model_refuses_a_tokenizer_larger_than_the_model(tmp_path):
  directory = copy_fixture(tmp_path)
  config, params = hf_llama.import_llama(directory)
  small = config.replace(vocab_size=64)
  flat = decoder_layout.flat_unscanned(config, params)
  flat["token_embedder/embedding"] = flat["token_embedder/embedding"][:64]
  flat["logits_dense/kernel"] = flat["logits_dense/kernel"][:, :64]
  from flan.models import param_names  # pylint: disable=import-outside-toplevel
  out = hf_llama.export_llama(small, param_names.unflatten(flat), tmp_path / "small")
  for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(LLAMA / name, out / name)
  with pytest.raises(InputError, match="the tokenizer has 100 ids"):
    families.load_model_any(out)


def test_saved_config_fields_and_layouts_of_either_family():
  import dataclasses  # pylint: disable=import-outside-toplevel
  from flan.models.config import get_config  # pylint: disable=import-outside-toplevel
  decoder = get_decoder_config("tiny", rope_type="llama3", rope_factor=8.0)
  t5 = get_config("tiny")
  assert families.config_from_saved_fields({**dataclasses.asdict(decoder), "future_field": 1}) == decoder
  assert families.config_from_saved_fields(dataclasses.asdict(t5)) == t5
  _, params = hf_llama.import_llama(TIED)
  tied, _ = hf_llama.import_llama(TIED)
  scanned = families.scan_params_any(tied, params)
  assert scanned["layers"]["mlp"]["wo"]["kernel"].shape[0] == tied.num_layers
  unscanned = families.unscan_params_any(tied, scanned)
  np.testing.assert_array_equal(unscanned["layers_1"]["mlp"]["wo"]["kernel"], params["layers_1"]["mlp"]["wo"]["kernel"])
  # The data layer's bos_id for each tokenizer convention.
  assert decoder_scoring.data_bos_id(HfTokenizer(LLAMA)) == 1
  assert decoder_scoring.data_bos_id(CharTokenizer()) == 0
  from flan.models import decoder_flops  # pylint: disable=import-outside-toplevel
  from flan.trainer import flops as trainer_flops  # pylint: disable=import-outside-toplevel
  flops = trainer_flops.train_step_flops(decoder, 2, 6, 4)  # the trainer's MFU: rows of inputs + targets
  assert flops == decoder_flops.train_step_flops(decoder, 2, 10)


def test_batch_logits_and_export_dispatch_on_the_family(tmp_path):
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  t5_config, t5_params = families.load_pretrained_any(FIXTURES / "hf_tiny_t5")
  t5_config = t5_config.replace(dtype="float32")
  model = families.model_for(t5_config)
  tokens = jnp.array([[5, 6, 7, 1]], jnp.int32)
  batch = {"encoder_input_tokens": tokens, "decoder_input_tokens": tokens}
  np.testing.assert_array_equal(families.batch_logits(model, t5_params, batch),
                                model.apply({"params": t5_params}, tokens, tokens))
  config, params = families.load_pretrained_any(TIED)
  out = families.export_hf_any(config, params, tmp_path / "llama")
  assert json.loads((out / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
  again_config, again = families.load_pretrained_any(out)
  assert again_config == config
  np.testing.assert_array_equal(again["token_embedder"]["embedding"], params["token_embedder"]["embedding"])
  t5_out = families.export_hf_any(t5_config, t5_params, tmp_path / "t5")
  assert json.loads((t5_out / "config.json").read_text())["model_type"] == "t5"


def test_tokenizer_files_travel_with_an_export(tmp_path):
  from flan.models.hf_tokenizer import copy_tokenizer_files  # pylint: disable=import-outside-toplevel
  config, params = hf_llama.import_llama(LLAMA)
  out = hf_llama.export_llama(config, params, tmp_path / "out")
  copied = copy_tokenizer_files(LLAMA, out)
  assert {p.name for p in copied} == {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}
  assert HfTokenizer(out).encode("the cat") == HfTokenizer(LLAMA).encode("the cat")
  with pytest.raises(ConfigError, match="no tokenizer.json or tokenizer.model"):
    copy_tokenizer_files(TIED, tmp_path)


def test_llama_style_sentencepiece_model_adds_bos_unless_configured_off(tmp_path):
  import sentencepiece  # pylint: disable=import-outside-toplevel
  sentencepiece.SentencePieceTrainer.train(
      sentence_iterator=iter(["the cat sat on the mat", "a dog ran in the park", "yes no maybe"] * 20),
      model_prefix=str(tmp_path / "tokenizer"), vocab_size=24, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
      minloglevel=2)
  tokenizer = HfTokenizer(tmp_path)
  assert (tokenizer.start_ids, tokenizer.bos_id, tokenizer.eos_id) == ([1], 1, 2)
  assert tokenizer.decode(tokenizer.encode("the cat") + [2, 7]) == "the cat"
  (tmp_path / "tokenizer_config.json").write_text(json.dumps({"add_bos_token": False, "eos_token": "</s>"}))
  assert HfTokenizer(tmp_path).start_ids == []
  (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|eot|>"}))
  with pytest.raises(ConfigError, match="'eos_token' is '<|eot|>'"):
    HfTokenizer(tmp_path)
