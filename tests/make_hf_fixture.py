"""Writes the golden Hugging Face T5 fixtures under tests/fixtures/ (needs torch + transformers).

Run: /work/refvenv/bin/python tests/make_hf_fixture.py   (transformers 5.x, torch, CPU)

Two tiny random models, each saved as config.json + model.safetensors, plus golden.npz with what
transformers computes from the saved files in float32 on fixed inputs (with padding in the batch):
  hf_tiny_t5/       T5 v1.1: gated-gelu, untied output layer, 2+2 layers, relative buckets 32 / distance 128;
                    its golden.npz also holds greedy `generate` outputs for the decoding tests.
  hf_tiny_t5_tied/  original T5: relu FFN, output layer tied to the embedding (decoder output scaled by
                    d_model**-0.5), 2 encoder + 1 decoder layers.
The goldens come from the models that transformers reloads from the written files, so they describe what
transformers itself does with those files.
"""
import json
import pathlib

import numpy as np
import torch
import transformers

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"

V11 = dict(vocab_size=256, d_model=32, d_ff=48, num_heads=4, d_kv=6, num_layers=2, num_decoder_layers=2,
           feed_forward_proj="gated-gelu", tie_word_embeddings=False)
TIED = dict(vocab_size=128, d_model=16, d_ff=32, num_heads=2, d_kv=4, num_layers=2, num_decoder_layers=1,
            feed_forward_proj="relu", tie_word_embeddings=True)
COMMON = dict(relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
              layer_norm_epsilon=1e-6, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)

# Lengths of the real (non-padding) tokens per example; the longest encoder input is 40 tokens so that
# relative distances reach the logarithmic buckets.
ENCODER_LENGTHS = (40, 7, 1)
TARGET_LENGTHS = (5, 12, 1)
GREEDY_NEW_TOKENS = 8


def make_tokens(rng, lengths, vocab_size):
  """Right-padded [batch, max_len] int64 rows of random ids in [2, vocab) that end with EOS (1)."""
  width = max(lengths)
  tokens = np.zeros((len(lengths), width), np.int64)
  for row, length in enumerate(lengths):
    tokens[row, :length - 1] = rng.integers(2, vocab_size, size=length - 1)
    tokens[row, length - 1] = 1
  return tokens


def build_and_save(name, arch, seed):
  torch.manual_seed(seed)
  config = transformers.T5Config(**arch, **COMMON)
  model = transformers.T5ForConditionalGeneration(config)
  if not arch["tie_word_embeddings"]:
    # transformers 5.x ties lm_head to the embedding on construction: give v1.1 its own output layer.
    model.lm_head.weight = torch.nn.Parameter(torch.randn(arch["vocab_size"], arch["d_model"]) * 0.5)
  out_dir = FIXTURES / name
  out_dir.mkdir(parents=True, exist_ok=True)
  model.save_pretrained(out_dir, safe_serialization=True)
  # Write the config the way the published hub configs spell it (transformers 5.x writes
  # tie_word_embeddings=true plus its own scale_decoder_outputs flag).
  config_path = out_dir / "config.json"
  config_dict = json.loads(config_path.read_text())
  config_dict["tie_word_embeddings"] = arch["tie_word_embeddings"]
  config_dict.pop("scale_decoder_outputs", None)
  config_path.write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n")
  return model, out_dir


def check_saved_output_layer(out_dir, tied):
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  tensors = load_file(out_dir / "model.safetensors")
  if tied:
    assert "lm_head.weight" not in tensors, sorted(tensors)
  else:
    assert "lm_head.weight" in tensors, sorted(tensors)
    assert not np.array_equal(tensors["lm_head.weight"], tensors["shared.weight"])


def goldens(model, vocab_size, seed, with_generate):
  rng = np.random.default_rng(seed)
  encoder_tokens = make_tokens(rng, ENCODER_LENGTHS, vocab_size)
  targets = make_tokens(rng, TARGET_LENGTHS, vocab_size)
  decoder_inputs = np.zeros_like(targets)
  decoder_inputs[:, 1:] = targets[:, :-1]
  decoder_inputs[targets == 0] = 0
  weights = (targets > 0).astype(np.float32)
  with torch.no_grad():
    out = model(input_ids=torch.from_numpy(encoder_tokens),
                attention_mask=torch.from_numpy((encoder_tokens > 0).astype(np.int64)),
                decoder_input_ids=torch.from_numpy(decoder_inputs))
    logits = out.logits.float()
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, vocab_size), torch.from_numpy(targets).reshape(-1), reduction="none")
  result = dict(
      encoder_input_tokens=encoder_tokens.astype(np.int32),
      decoder_input_tokens=decoder_inputs.astype(np.int32),
      decoder_target_tokens=targets.astype(np.int32),
      decoder_loss_weights=weights,
      logits=logits.numpy().astype(np.float32) * weights[..., None],
      per_token_loss=losses.numpy().reshape(targets.shape).astype(np.float32) * weights,
  )
  if with_generate:
    with torch.no_grad():
      generated = model.generate(
          input_ids=torch.from_numpy(encoder_tokens),
          attention_mask=torch.from_numpy((encoder_tokens > 0).astype(np.int64)),
          max_new_tokens=GREEDY_NEW_TOKENS, num_beams=1, do_sample=False,
          decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    # Drop the leading decoder start token; rows that ended early are padded with 0.
    result["greedy_tokens"] = generated.numpy()[:, 1:].astype(np.int32)
  return result


def main():
  torch.set_default_dtype(torch.float32)
  for name, arch, seed, with_generate in (("hf_tiny_t5", V11, 0, True), ("hf_tiny_t5_tied", TIED, 1, False)):
    built, out_dir = build_and_save(name, arch, seed)
    check_saved_output_layer(out_dir, arch["tie_word_embeddings"])
    model = transformers.T5ForConditionalGeneration.from_pretrained(out_dir, dtype=torch.float32).eval()
    reloaded_state = model.state_dict()
    for key, value in built.state_dict().items():
      assert torch.equal(reloaded_state[key], value), f"{key} changed in save/reload"
    assert model.config.scale_decoder_outputs == arch["tie_word_embeddings"]
    arrays = goldens(model, arch["vocab_size"], seed, with_generate)
    np.savez_compressed(out_dir / "golden.npz", **arrays)
    (out_dir / "README.md").write_text(
        f"Generated by tests/make_hf_fixture.py with transformers {transformers.__version__}, "
        f"torch {torch.__version__}; do not edit by hand.\n")
    print(name, {k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
  main()
