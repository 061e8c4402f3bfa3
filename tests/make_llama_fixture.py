"""Writes the golden Hugging Face Llama fixtures under tests/fixtures/ (needs torch + transformers).

Run: .venv/bin/python tests/make_llama_fixture.py [NAME ...]   (transformers 5.x, torch, CPU, float32)

Two tiny random LlamaForCausalLM models, each saved as config.json + model.safetensors, plus golden.npz with
what transformers computes from the saved files:
  hf_tiny_llama/       grouped-query attention (4 heads, 2 kv heads), head_dim 16 != hidden/heads, untied
                       output layer, and a tiny BPE tokenizer.json that adds <s> in front (Llama's convention).
  hf_tiny_llama_tied/  multi-query attention (1 kv head), output tied to the embedding, rope_theta 500000.
  hf_tiny_llama3/      Llama 3.1 rope scaling ("llama3": factor 8, original context 64), tied, head_dim 16.
golden.npz: `tokens` [2, 12] and their `logits` [2, 12, vocab]; `prompt_{i}` and `greedy_{i}` (transformers'
`generate`, greedy, 8 new tokens, each prompt alone). export_check.json records that flan's export of the
imported weights loads back in transformers with the same logits (max abs difference).
"""
import json
import pathlib
import sys
import tempfile

import numpy as np
import torch
import transformers

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT))

ARCHS = {
    "hf_tiny_llama": dict(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False,
                          rms_norm_eps=1e-5, rope_theta=10000.0),
    "hf_tiny_llama_tied": dict(vocab_size=96, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True,
                               rms_norm_eps=1e-6, rope_theta=500000.0),
    # Llama 3.1's rope scaling with a short original context, so that all three frequency bands occur.
    "hf_tiny_llama3": dict(vocab_size=80, hidden_size=32, intermediate_size=40, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
                           rms_norm_eps=1e-5, rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0,
                                                               "factor": 8.0, "low_freq_factor": 1.0,
                                                               "high_freq_factor": 4.0,
                                                               "original_max_position_embeddings": 64}),
}
COMMON = dict(bos_token_id=1, eos_token_id=2, pad_token_id=None, max_position_embeddings=256)
PROMPT_LENGTHS = (5, 9, 1)
GREEDY_NEW_TOKENS = 8
CORPUS = ["the cat sat on the mat", "a dog ran in the park", "what is the answer to the question",
          "options: yes no maybe", "translate english to german: good morning", "the answer is yes"] * 4


def make_tokenizer(out_dir: pathlib.Path, vocab_size: int):
  """A tiny BPE tokenizer.json: <unk> 0, <s> 1, </s> 2; its post-processor adds <s> in front of a text."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
  tok = Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Metaspace()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"])
  tok.train_from_iterator(CORPUS, trainer)
  tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                     special_tokens=[("<s>", 1)])
  tok.save(str(out_dir / "tokenizer.json"))
  (out_dir / "tokenizer_config.json").write_text(json.dumps(
      {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True}, indent=2) + "\n")
  return tok.get_vocab_size()


def logits_of(model, tokens):
  with torch.no_grad():
    return model(torch.tensor(tokens)).logits.numpy()


def build(name, arch, seed):
  torch.manual_seed(seed)
  config = transformers.LlamaConfig(**arch, **COMMON)
  model = transformers.LlamaForCausalLM(config).eval()
  if arch["tie_word_embeddings"]:
    # Larger embeddings than the 0.02 init, so greedy continuations of the tied model are not one repeated id.
    with torch.no_grad():
      model.model.embed_tokens.weight.normal_(0.0, 1.0)
  else:
    model.lm_head.weight = torch.nn.Parameter(torch.randn(arch["vocab_size"], arch["hidden_size"]) * 0.3)
  out_dir = FIXTURES / name
  out_dir.mkdir(parents=True, exist_ok=True)
  model.save_pretrained(out_dir, safe_serialization=True)
  if name == "hf_tiny_llama":
    assert make_tokenizer(out_dir, 100) <= arch["vocab_size"]
  model = transformers.LlamaForCausalLM.from_pretrained(out_dir, dtype=torch.float32).eval()
  rng = np.random.default_rng(seed)
  tokens = rng.integers(3, arch["vocab_size"], size=(2, 12)).astype(np.int64)
  tokens[:, 0] = 1
  golden = {"tokens": tokens, "logits": logits_of(model, tokens)}
  for i, length in enumerate(PROMPT_LENGTHS):
    prompt = np.concatenate([[1], rng.integers(3, arch["vocab_size"], size=length - 1)]).astype(np.int64)
    with torch.no_grad():
      out = model.generate(torch.tensor(prompt[None]), max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False,
                           eos_token_id=2, pad_token_id=0)
    golden[f"prompt_{i}"] = prompt
    golden[f"greedy_{i}"] = out[0, length:].numpy()
  np.savez_compressed(out_dir / "golden.npz", **golden)
  (out_dir / "README.md").write_text(f"Made by tests/make_llama_fixture.py (tiny random LlamaForCausalLM '{name}', "
                                     f"seed {seed}); do not edit by hand.\n")
  check_export(out_dir, model, tokens)


def check_export(out_dir, model, tokens):
  """flan imports the fixture and exports it again; transformers must load the export with equal logits."""
  from flan.models import hf_llama  # pylint: disable=import-outside-toplevel
  config, params = hf_llama.import_llama(out_dir)
  with tempfile.TemporaryDirectory() as tmp:
    hf_llama.export_llama(config, params, tmp, special_tokens={"bos_token_id": 1, "eos_token_id": 2})
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
    diff = float(np.max(np.abs(logits_of(reloaded, tokens) - logits_of(model, tokens))))
  record = {"check": "flan import_llama -> export_llama -> transformers LlamaForCausalLM.from_pretrained",
            "max_abs_logit_difference": diff, "transformers_version": transformers.__version__,
            "torch_version": torch.__version__}
  (out_dir / "export_check.json").write_text(json.dumps(record, indent=2) + "\n")
  assert diff < 1e-5, record
  print(out_dir.name, record)


if __name__ == "__main__":
  chosen = sys.argv[1:] or list(ARCHS)
  for number, (fixture, architecture) in enumerate(ARCHS.items()):
    if fixture in chosen:
      build(fixture, architecture, seed=number)
