"""The decoder-only family's side of bench/train_throughput.py: batches of `inputs targets` streams (the loss on
the targets) and the peer, Hugging Face LlamaForCausalLM built with the same configuration."""
import numpy as np


def make_batches(config, args, count, seed=0):
  """Unpacked decoder features: every token real, loss weights on the target part of each row."""
  rng = np.random.default_rng(seed)
  length = args.input_length + args.target_length
  batches = []
  for _ in range(count):
    tokens = rng.integers(2, config.vocab_size, size=(args.batch, length), dtype=np.int32)
    weights = np.zeros_like(tokens)
    weights[:, args.input_length:] = 1
    batches.append({"decoder_target_tokens": tokens,
                    "decoder_input_tokens": np.concatenate([np.zeros((args.batch, 1), np.int32), tokens[:, :-1]], 1),
                    "decoder_loss_weights": weights})
  return batches


def hf_model(config, device):
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  hf_config = transformers.LlamaConfig(
      vocab_size=config.vocab_size, hidden_size=config.emb_dim, intermediate_size=config.mlp_dim,
      num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
      num_key_value_heads=config.num_kv_heads, head_dim=config.head_dim, rms_norm_eps=config.rms_norm_eps,
      rope_theta=config.rope_theta, tie_word_embeddings=config.tie_embeddings, attention_dropout=0.0,
      use_cache=False)
  torch.manual_seed(0)
  with torch.device(device):  # initialized where it trains (a CPU init of xl-sized weights takes minutes)
    model = transformers.LlamaForCausalLM(hf_config)
  model.train()
  return model


def hf_loss(model, batch):
  """Next-token loss on the target part (-100 elsewhere; transformers shifts the labels itself)."""
  labels = batch["decoder_target_tokens"].clone()
  labels[batch["decoder_loss_weights"] == 0] = -100
  full = batch["decoder_target_tokens"]
  return model(input_ids=full, labels=labels).loss
