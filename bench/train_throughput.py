"""Train-step throughput: flan's jitted train step (Adafactor, T5X settings) against Hugging Face PyTorch
training of the same T5 v1.1 model (T5ForConditionalGeneration + transformers' Adafactor with a fixed
learning rate, parameter scaling and update clipping: the same algorithm), same config, batch and lengths.

Both train on the same random, fully real (unpadded) token batches with dropout off. tokens/s counts
encoder plus decoder tokens per step. MFU uses flan.trainer.flops (matmul FLOPs, 3x forward) and the
peak bf16 FLOP/s table; it is shown only for accelerators in that table.

  .venv/bin/python bench/train_throughput.py                      # CPU: tiny and small (a few minutes)
  .venv/bin/python bench/train_throughput.py --device gpu         # one GPU: base, large, xl at 1024/256, bf16
  .venv/bin/python bench/train_throughput.py --sizes small --batch 8 --input_length 256 --target_length 64
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

CPU_DEFAULTS = {"sizes": "tiny,small", "batch": 8, "input_length": 256, "target_length": 64, "steps": 5}
GPU_DEFAULTS = {"sizes": "base,large,xl", "batch": 32, "input_length": 1024, "target_length": 256, "steps": 10}


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
  p.add_argument("--sizes", default=None, help="comma-separated flan.models.config sizes")
  p.add_argument("--batch", type=int, default=None)
  p.add_argument("--input_length", type=int, default=None)
  p.add_argument("--target_length", type=int, default=None)
  p.add_argument("--steps", type=int, default=None, help="timed steps per framework (after 2 warm-up steps)")
  p.add_argument("--remat", action="store_true", help="flan: rematerialize layers (saves memory for xl)")
  p.add_argument("--skip_hf", action="store_true", help="measure flan only")
  args = p.parse_args(argv)
  defaults = GPU_DEFAULTS if args.device == "gpu" else CPU_DEFAULTS
  for key, value in defaults.items():
    if getattr(args, key) is None:
      setattr(args, key, value)
  return args


def make_batches(config, args, count, seed=0):
  rng = np.random.default_rng(seed)
  batches = []
  for _ in range(count):
    inputs = rng.integers(2, config.vocab_size, size=(args.batch, args.input_length), dtype=np.int32)
    targets = rng.integers(2, config.vocab_size, size=(args.batch, args.target_length), dtype=np.int32)
    decoder_inputs = np.concatenate([np.zeros((args.batch, 1), np.int32), targets[:, :-1]], axis=1)
    batches.append({"encoder_input_tokens": inputs, "decoder_input_tokens": decoder_inputs,
                    "decoder_target_tokens": targets,
                    "decoder_loss_weights": np.ones_like(targets)})
  return batches


def time_flan(config, batches, args):
  """(seconds per step, compile seconds) of flan's train step on one device."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.models import t5  # pylint: disable=import-outside-toplevel
  from flan.trainer import optimizer, schedules  # pylint: disable=import-outside-toplevel
  from flan.trainer import state as state_lib  # pylint: disable=import-outside-toplevel
  from flan.trainer import step as step_lib  # pylint: disable=import-outside-toplevel

  mesh = partitioning.make_mesh(data=1, model=1)
  rules = partitioning.logical_rules()
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    model = t5.Transformer(config)
    schedule = schedules.make_schedule("constant", base_learning_rate=5e-4)
    tx = optimizer.make_optimizer(schedule)
    _, shardings = state_lib.state_shardings(model, tx, mesh, rules)
    state = state_lib.create_train_state(model, tx, shardings)
    batch_sharding = partitioning.batch_sharding(mesh)
    step = jax.jit(step_lib.make_train_step(model, tx, schedule, enable_dropout=False),
                   in_shardings=(shardings, batch_sharding), out_shardings=(shardings, None), donate_argnums=(0,))
    device_batches = [{k: jax.device_put(v, batch_sharding) for k, v in b.items()} for b in batches]
    started = time.perf_counter()
    compiled = step.lower(state, device_batches[0]).compile()
    compile_s = time.perf_counter() - started
    for batch in device_batches[:2]:
      state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    started = time.perf_counter()
    for batch in device_batches[2:]:
      state, metrics = compiled(state, batch)
    jax.block_until_ready((state, metrics))
    seconds = (time.perf_counter() - started) / (len(device_batches) - 2)
    return seconds, compile_s, float(metrics["loss"])


def hf_model(config, device):
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  hf_config = transformers.T5Config(
      vocab_size=config.vocab_size, d_model=config.emb_dim, d_kv=config.head_dim, d_ff=config.mlp_dim,
      num_layers=config.num_encoder_layers, num_decoder_layers=config.num_decoder_layers,
      num_heads=config.num_heads, relative_attention_num_buckets=config.relative_attention_num_buckets,
      relative_attention_max_distance=config.relative_attention_max_distance, dropout_rate=0.0,
      layer_norm_epsilon=config.layer_norm_epsilon, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
      use_cache=False)
  torch.manual_seed(0)
  model = transformers.T5ForConditionalGeneration(hf_config).to(device)
  model.train()
  return model


def time_hf(config, batches, args):
  """Seconds per step of eager PyTorch training (bf16 autocast on GPU, float32 on CPU)."""
  import torch  # pylint: disable=import-outside-toplevel
  from transformers.optimization import Adafactor  # pylint: disable=import-outside-toplevel
  device = "cuda" if args.device == "gpu" else "cpu"
  model = hf_model(config, device)
  if args.remat:
    model.gradient_checkpointing_enable()
  optimizer = Adafactor(model.parameters(), lr=5e-4, scale_parameter=True, relative_step=False,
                        warmup_init=False, clip_threshold=1.0, decay_rate=-0.8, beta1=None, eps=(1e-30, 1e-3))
  tensors = [{k: torch.from_numpy(v.astype(np.int64)).to(device) for k, v in b.items()} for b in batches]
  autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=args.device == "gpu")

  def step(batch):
    with autocast:
      out = model(input_ids=batch["encoder_input_tokens"], decoder_input_ids=batch["decoder_input_tokens"],
                  labels=batch["decoder_target_tokens"])
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return out.loss

  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  for batch in tensors[:2]:
    step(batch)
  sync()
  started = time.perf_counter()
  for batch in tensors[2:]:
    loss = step(batch)
  sync()
  seconds = (time.perf_counter() - started) / (len(tensors) - 2)
  return seconds, float(loss.detach())


def machine(args):
  import jax  # pylint: disable=import-outside-toplevel
  parts = [f"{platform.platform()}", f"{os.cpu_count()} CPU cores", f"python {platform.python_version()}",
           f"jax {jax.__version__} on {jax.devices()[0].device_kind}"]
  try:
    import torch  # pylint: disable=import-outside-toplevel
    parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads"
                 + (f", {torch.cuda.get_device_name()}" if args.device == "gpu" else "") + ")")
  except ImportError:
    parts.append("torch not installed")
  return "; ".join(parts)


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  if args.device == "cpu":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import jax  # pylint: disable=import-outside-toplevel
  from flan.models.config import get_config  # pylint: disable=import-outside-toplevel
  from flan.trainer import flops  # pylint: disable=import-outside-toplevel
  dtype = "bfloat16" if args.device == "gpu" else "float32"
  peak = flops.peak_flops_per_device(jax.devices()[0].device_kind)
  tokens = args.batch * (args.input_length + args.target_length)
  print(f"machine: {machine(args)}")
  print(f"batch {args.batch}, lengths {args.input_length}/{args.target_length} ({tokens} tokens/step), "
        f"activations {dtype}, params float32, {args.steps} timed steps; peer: Hugging Face "
        "T5ForConditionalGeneration + transformers Adafactor (eager PyTorch"
        + (", bf16 autocast)" if args.device == "gpu" else ", float32)"))
  rows = []
  for size in args.sizes.split(","):
    config = get_config(size, dtype=dtype, dropout_rate=0.0, remat=args.remat)
    batches = make_batches(config, args, args.steps + 2)
    step_flops = flops.train_step_flops(config, args.batch, args.input_length, args.target_length)
    flan_s, compile_s, flan_loss = time_flan(config, batches, args)
    flan_tps = tokens / flan_s
    line = f"{size:6s} flan {flan_tps:10,.0f} tok/s ({flan_s * 1000:8.1f} ms/step, compile {compile_s:5.1f}s"
    if peak:
      line += f", MFU {step_flops / flan_s / peak * 100:5.1f}%"
    line += ")"
    if not args.skip_hf:
      hf_s, hf_loss = time_hf(config, batches, args)
      hf_tps = tokens / hf_s
      line += f" | HF {hf_tps:10,.0f} tok/s ({hf_s * 1000:8.1f} ms/step"
      if peak:
        line += f", MFU {step_flops / hf_s / peak * 100:5.1f}%"
      line += (f") | flan/HF {flan_tps / hf_tps:5.2f}x | last loss flan {flan_loss:.3f} HF {hf_loss:.3f} "
               "(different random inits)")
      rows.append((size, flan_tps, hf_tps))
    print(line, flush=True)
  if rows:
    print("ratio flan/HF tokens/s: " + ", ".join(f"{s} {a / b:.2f}x" for s, a, b in rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
