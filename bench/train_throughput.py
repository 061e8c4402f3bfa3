"""Train-step throughput: flan's jitted train step (Adafactor, T5X settings) against Hugging Face PyTorch
training of the same T5 v1.1 model (T5ForConditionalGeneration + transformers' Adafactor with a fixed
learning rate, parameter scaling and update clipping: the same algorithm), same config, batch and lengths.

Both train on the same random, fully real (unpadded) token batches with dropout off. tokens/s counts
encoder plus decoder tokens per step. MFU uses flan.trainer.flops (matmul FLOPs, 3x forward) and the
peak bf16 FLOP/s table; it is shown only for accelerators in that table.

Each framework runs in its own process: flan with the environment flan-train restarts itself with (glibc huge
pages for large buffers, flan/host_memory.py), the peer as it comes (--peer_huge_pages gives it the same).
A roofline line per size divides the step's matmul FLOPs by the best square-matmul rate measured in the same
run: the fastest step any implementation could run on this machine, and so the largest possible ratio.

  .venv/bin/python bench/train_throughput.py                      # CPU: tiny and small (a few minutes)
  .venv/bin/python bench/train_throughput.py --device gpu         # one GPU: base, large, xl at 1024/256, bf16
  .venv/bin/python bench/train_throughput.py --sizes small --batch 8 --input_length 256 --target_length 64
  .venv/bin/python bench/train_throughput.py --family decoder     # decoder-only vs LlamaForCausalLM (tiny, small)
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

import decoder_peer  # bench/decoder_peer.py, beside this file
import roofline  # bench/roofline.py, beside this file

CPU_DEFAULTS = {"sizes": "tiny,small", "batch": 8, "input_length": 256, "target_length": 64, "steps": 5}
GPU_DEFAULTS = {"sizes": "base,large,xl", "batch": 0, "input_length": 1024, "target_length": 256, "steps": 10}
GPU_BATCH = {"base": 64, "large": 32, "xl": 16}  # rows per step when --batch is not given (fits 80 GB)


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
  p.add_argument("--family", choices=("t5", "decoder"), default="t5",
                 help="t5 (peer: T5ForConditionalGeneration) or decoder (peer: LlamaForCausalLM; rows of "
                      "input_length + target_length tokens)")
  p.add_argument("--sizes", default=None, help="comma-separated flan.models.config sizes")
  p.add_argument("--batch", type=int, default=None, help="rows per step (GPU default per size: %s)" % GPU_BATCH)
  p.add_argument("--input_length", type=int, default=None)
  p.add_argument("--target_length", type=int, default=None)
  p.add_argument("--steps", type=int, default=None, help="timed steps per framework (after 2 warm-up steps)")
  p.add_argument("--remat", action="store_true", help="flan: rematerialize layers (saves memory for xl)")
  p.add_argument("--skip_hf", action="store_true", help="measure flan only")
  p.add_argument("--peer_huge_pages", action="store_true",
                 help="run the peer with the same allocator setting as flan (glibc huge pages, flan/host_memory.py); "
                      "by default each runs as its users run it: flan as flan-train does, the peer as it comes")
  p.add_argument("--only", choices=("flan", "hf"), default=None, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  defaults = GPU_DEFAULTS if args.device == "gpu" else CPU_DEFAULTS
  for key, value in defaults.items():
    if getattr(args, key) is None:
      setattr(args, key, value)
  return args


def model_config(args, size, **overrides):
  """The flan model config of `size` in the benchmark's family."""
  if args.family == "decoder":
    from flan.models.decoder_config import get_decoder_config  # pylint: disable=import-outside-toplevel
    return get_decoder_config(size, **overrides)
  from flan.models.config import get_config  # pylint: disable=import-outside-toplevel
  return get_config(size, **overrides)


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


def compiled_flan_step(config, batches, args):
  """(compiled step, initial state, batches on the device, compile seconds): flan's train step on one device,
  the step flan-train runs, built by flan.trainer.program from a run configuration (unpacked rows)."""
  import jax  # pylint: disable=import-outside-toplevel
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.trainer import program as program_lib  # pylint: disable=import-outside-toplevel
  from flan.trainer import state as state_lib  # pylint: disable=import-outside-toplevel
  from flan.trainer.run_config import RunConfig  # pylint: disable=import-outside-toplevel

  run = RunConfig(model_config=config, num_steps=len(batches), batch_size=args.batch, pack=False,
                  feature_lengths={"inputs": args.input_length, "targets": args.target_length},
                  mesh_data=1, mesh_fsdp=1, mesh_model=1, num_devices=1, process_count=1)
  mesh = partitioning.make_mesh(**run.mesh_shape, devices=jax.devices()[:1])
  program = program_lib.build_train_program(run, mesh)
  with partitioning.mesh_context(mesh, program.rules):
    state = state_lib.create_train_state(program.model, program.tx, program.state_shardings)
  device_batches = [{k: jax.device_put(v, program.batch_sharding) for k, v in b.items()} for b in batches]
  started = time.perf_counter()
  compiled = program.lower(state, device_batches[0]).compile()
  return compiled, state, device_batches, time.perf_counter() - started


def time_flan(config, batches, args):
  """(seconds per step, compile seconds, last loss, page faults per step) of flan's train step."""
  import jax  # pylint: disable=import-outside-toplevel
  compiled, state, device_batches, compile_s = compiled_flan_step(config, batches, args)
  for batch in device_batches[:2]:
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  faults, started = minor_page_faults(), time.perf_counter()
  for batch in device_batches[2:]:
    state, metrics = compiled(state, batch)
  jax.block_until_ready((state, metrics))
  steps = len(device_batches) - 2
  seconds = (time.perf_counter() - started) / steps
  return seconds, compile_s, float(metrics["loss"]), (minor_page_faults() - faults) / steps


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
  with torch.device(device):  # initialized where it trains (a CPU init of xl-sized weights takes minutes)
    model = transformers.T5ForConditionalGeneration(hf_config)
  model.train()
  return model


def time_hf(config, batches, args):
  """Seconds per step of eager PyTorch training (bf16 autocast on GPU, float32 on CPU)."""
  import torch  # pylint: disable=import-outside-toplevel
  from transformers.optimization import Adafactor  # pylint: disable=import-outside-toplevel
  device = "cuda" if args.device == "gpu" else "cpu"
  model = (decoder_peer.hf_model if args.family == "decoder" else hf_model)(config, device)
  if args.remat:
    model.gradient_checkpointing_enable()
  optimizer = Adafactor(model.parameters(), lr=5e-4, scale_parameter=True, relative_step=False,
                        warmup_init=False, clip_threshold=1.0, decay_rate=-0.8, beta1=None, eps=(1e-30, 1e-3))
  tensors = [{k: torch.from_numpy(v.astype(np.int64)).to(device) for k, v in b.items()} for b in batches]
  autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=args.device == "gpu")

  def step(batch):
    with autocast:
      if args.family == "decoder":
        loss = decoder_peer.hf_loss(model, batch)
      else:
        loss = model(input_ids=batch["encoder_input_tokens"], decoder_input_ids=batch["decoder_input_tokens"],
                     labels=batch["decoder_target_tokens"]).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss

  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  for batch in tensors[:2]:
    step(batch)
  sync()
  faults, started = minor_page_faults(), time.perf_counter()
  for batch in tensors[2:]:
    loss = step(batch)
  sync()
  steps = len(tensors) - 2
  seconds = (time.perf_counter() - started) / steps
  return seconds, float(loss.detach()), (minor_page_faults() - faults) / steps


def minor_page_faults():
  """This process's minor page faults so far (a fresh page touched for the first time counts one)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def machine(device_kind):
  """Platform, cores, versions and the accelerator (read in a child, so the parent never holds the GPU)."""
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  parts = [platform.platform(), f"{os.cpu_count()} CPU cores", f"python {platform.python_version()}",
           f"jax {metadata.version('jax')} on {device_kind}"]
  try:
    parts.append(f"torch {metadata.version('torch')}, transformers {metadata.version('transformers')}")
  except metadata.PackageNotFoundError:
    parts.append("torch/transformers not installed")
  return "; ".join(parts)


def measure_one(args):
  """Child process: measure one framework on one size and print a RESULT line (keeps GPU memory apart)."""
  import jax  # pylint: disable=import-outside-toplevel
  dtype = "bfloat16" if args.device == "gpu" else "float32"
  config = model_config(args, args.sizes, dtype=dtype, dropout_rate=0.0, remat=args.remat)
  batches = (decoder_peer.make_batches if args.family == "decoder" else make_batches)(config, args, args.steps + 2)
  gpu = args.device == "gpu"
  if args.only == "flan":
    seconds, compile_s, loss, faults = time_flan(config, batches, args)
    matmul_rate = roofline.xla_matmul_rate(8192 if gpu else 2048, "bfloat16" if gpu else "float32")
  else:
    seconds, loss, faults = time_hf(config, batches, args)
    compile_s = 0.0
    matmul_rate = roofline.torch_matmul_rate(8192 if gpu else 2048, "cuda" if gpu else "cpu")
  print("RESULT " + json.dumps({"seconds": seconds, "compile_s": compile_s, "loss": loss, "page_faults": faults,
                                "matmul_rate": matmul_rate, "device_kind": jax.devices()[0].device_kind}),
        flush=True)


def run_child(args, size, framework):
  command = [sys.executable, os.path.abspath(__file__), "--device", args.device, "--family", args.family,
             "--sizes", size,
             "--batch", str(args.batch), "--input_length", str(args.input_length),
             "--target_length", str(args.target_length), "--steps", str(args.steps), "--only", framework]
  if args.remat:
    command.append("--remat")
  env = None
  if framework == "flan" or args.peer_huge_pages:
    from flan import host_memory  # pylint: disable=import-outside-toplevel
    env = host_memory.environment()  # what flan-train restarts itself with (None: nothing to change)
  completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
  for line in completed.stdout.splitlines():
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  raise RuntimeError(f"{framework} on {size} failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")


def roofline_line(step_flops, flan, hf):
  """The step's matmul FLOPs at the best matmul rate measured here (a square matmul of each framework in its
  own process): the fastest step any implementation could run on this machine."""
  best = max(flan["matmul_rate"], hf["matmul_rate"] if hf else 0.0)
  floor = step_flops / best
  line = (f"       roofline: {step_flops / 1e9:,.1f} GFLOP of matmuls per step; square-matmul rate here: XLA "
          f"{flan['matmul_rate'] / 1e9:,.0f} GFLOP/s"
          + (f", torch {hf['matmul_rate'] / 1e9:,.0f} GFLOP/s" if hf else "")
          + f"; flan's step runs its matmuls at {step_flops / flan['seconds'] / flan['matmul_rate'] * 100:.0f}% of "
          f"XLA's rate")
  if hf:
    line += (f", HF at {step_flops / hf['seconds'] / hf['matmul_rate'] * 100:.0f}% of torch's; no step can take "
             f"less than {floor * 1000:,.1f} ms here, so no implementation can exceed "
             f"{hf['seconds'] / floor:.2f}x HF on this machine")
  return line


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  if args.device == "cpu":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
  if args.only:
    measure_one(args)
    return 0
  from flan.trainer import flops  # pylint: disable=import-outside-toplevel
  dtype = "bfloat16" if args.device == "gpu" else "float32"
  peer = "LlamaForCausalLM" if args.family == "decoder" else "T5ForConditionalGeneration"
  from flan import host_memory  # pylint: disable=import-outside-toplevel
  huge = host_memory.environment() is not None
  print(f"allocator: flan with {'glibc huge pages (as flan-train runs)' if huge else 'the environment as it is'}, "
        f"peer with {'the same' if args.peer_huge_pages and huge else 'the environment as it is'}")
  print(f"family {args.family}, lengths {args.input_length}/{args.target_length}, "
        f"activations {dtype}, params float32, {args.steps} timed steps; peer: Hugging Face "
        f"{peer} + transformers Adafactor (eager PyTorch"
        + (", bf16 autocast)" if args.device == "gpu" else ", float32)")
        + "; each measured in its own process")
  rows = []
  requested_batch = args.batch
  for size in args.sizes.split(","):
    args.batch = requested_batch or GPU_BATCH.get(size, 8)
    tokens = args.batch * (args.input_length + args.target_length)
    config = model_config(args, size, dtype=dtype)
    step_flops = flops.train_step_flops(config, args.batch, args.input_length, args.target_length)
    flan = run_child(args, size, "flan")
    if not rows and size == args.sizes.split(",")[0]:
      print(f"machine: {machine(flan['device_kind'])}")
    peak = flops.peak_flops_per_device(flan["device_kind"])
    flan_tps = tokens / flan["seconds"]
    line = (f"{size:6s} batch {args.batch:3d} | flan {flan_tps:10,.0f} tok/s ({flan['seconds'] * 1000:8.1f} ms/step, "
            f"compile {flan['compile_s']:5.1f}s, {flan['page_faults']:,.0f} page faults/step")
    if peak:
      line += f", MFU {step_flops / flan['seconds'] / peak * 100:5.1f}%"
    line += ")"
    if not args.skip_hf:
      hf = run_child(args, size, "hf")
      hf_tps = tokens / hf["seconds"]
      line += (f" | HF {hf_tps:10,.0f} tok/s ({hf['seconds'] * 1000:8.1f} ms/step, "
               f"{hf['page_faults']:,.0f} page faults/step")
      if peak:
        line += f", MFU {step_flops / hf['seconds'] / peak * 100:5.1f}%"
      line += (f") | flan/HF {flan_tps / hf_tps:5.2f}x | last loss flan {flan['loss']:.3f} HF {hf['loss']:.3f} "
               "(different random inits)")
      rows.append((size, flan_tps, hf_tps))
    print(line, flush=True)
    print(roofline_line(step_flops, flan, None if args.skip_hf else hf), flush=True)
  if rows:
    print("ratio flan/HF tokens/s: " + ", ".join(f"{s} {a / b:.2f}x" for s, a, b in rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
