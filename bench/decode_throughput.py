"""Decoding throughput: flan's cached greedy decoding against Hugging Face `generate` on the same model.

One random T5 v1.1-style model (gated-GELU, untied output layer) is built in transformers, saved as
safetensors and imported into flan (flan.models.hf.import_hf), so both decode identical weights (float32 on
the CPU).
Both generate exactly --new_tokens tokens per row (EOS never ends a row) for the same batch of inputs.
Prints tokens/s of each, the ratio flan / HF, compile time, greedy-token agreement and the machine.

  .venv/bin/python bench/decode_throughput.py                       # CPU defaults (a few minutes)
  .venv/bin/python bench/decode_throughput.py --d_model 512 --layers 8 --batch 32 --new_tokens 128
  .venv/bin/python bench/decode_throughput.py --family decoder      # decoder-only vs LlamaForCausalLM generate
  python3 bench/decode_throughput.py --device gpu --size xl           # one GPU: a flan size, both in bfloat16

--family decoder builds a random LlamaForCausalLM (grouped-query attention: --kv_heads, untied output, --layers
decoder layers), imports it with flan.models.hf_llama and decodes the same prompts: flan prefills each prompt in one
pass, then steps with the KV cache (flan.models.decoder_decoding.generate_tokens).

--device gpu runs both on the GPU (an error if jax or torch sees none), by default in bfloat16 weights and
activations (flan's parameters cast to bfloat16 as HF's are), where a few greedy tokens may differ between the
two; --size takes a T5 v1.1 size's dimensions from flan.models.config (base, large, xl, ...).
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

import roofline  # bench/roofline.py, beside this file


GPU_DEFAULTS = {"batch": 32, "input_length": 256, "new_tokens": 128, "dtype": "bfloat16"}


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
  p.add_argument("--family", choices=("t5", "decoder"), default="t5")
  p.add_argument("--size", default=None, help="t5 family: take the dimensions of this flan.models.config size")
  p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                 help="weights and activations of both (default: float32 on the CPU, bfloat16 on a GPU)")
  p.add_argument("--kv_heads", type=int, default=2, help="decoder family: key/value heads (grouped-query)")
  p.add_argument("--d_model", type=int, default=256)
  p.add_argument("--d_ff", type=int, default=1024)
  p.add_argument("--heads", type=int, default=4)
  p.add_argument("--d_kv", type=int, default=64)
  p.add_argument("--layers", type=int, default=4, help="encoder and decoder layers each")
  p.add_argument("--vocab", type=int, default=32128)
  p.add_argument("--batch", type=int, default=None, help="default 8 (GPU 32)")
  p.add_argument("--input_length", type=int, default=None, help="default 128 (GPU 256)")
  p.add_argument("--new_tokens", type=int, default=None, help="default 64 (GPU 128)")
  p.add_argument("--num_beams", type=int, default=1, help="1 = greedy; >1 compares beam search")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--threads", type=int, default=0,
                 help="CPU threads for both (0 = library defaults); 1 sets torch to 1 thread and XLA's CPU "
                      "backend to single-threaded Eigen, for a like-for-like single-core comparison")
  args = p.parse_args(argv)
  defaults = dict(GPU_DEFAULTS) if args.device == "gpu" else {"batch": 8, "input_length": 128, "new_tokens": 64,
                                                              "dtype": "float32"}
  for key, value in defaults.items():
    if getattr(args, key) is None:
      setattr(args, key, value)
  if args.size:
    if args.family != "t5":
      p.error("--size takes a T5 size; set the decoder family's dimensions with --d_model, --layers, ...")
    from flan.models import config as t5_config  # pylint: disable=import-outside-toplevel
    if args.size not in t5_config.SIZES:
      p.error(f"unknown --size {args.size!r}; known sizes: {', '.join(t5_config.SIZES)}")
    size = t5_config.get_config(args.size)
    if size.num_encoder_layers != size.num_decoder_layers:
      p.error(f"--size {args.size} has {size.num_encoder_layers}+{size.num_decoder_layers} layers; this benchmark "
              "builds equal stacks")
    args.d_model, args.d_ff, args.heads, args.d_kv = size.emb_dim, size.mlp_dim, size.num_heads, size.head_dim
    args.layers, args.vocab = size.num_encoder_layers, size.vocab_size
  return args


def build_hf_model(args, out_dir, device="cpu"):
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  torch.manual_seed(args.seed)
  config = transformers.T5Config(
      vocab_size=args.vocab, d_model=args.d_model, d_kv=args.d_kv, d_ff=args.d_ff, num_layers=args.layers,
      num_decoder_layers=args.layers, num_heads=args.heads, feed_forward_proj="gated-gelu",
      tie_word_embeddings=False, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
  with torch.device(device), torch.no_grad():  # initialized where it runs (a CPU init of xl takes minutes)
    model = transformers.T5ForConditionalGeneration(config).eval()
    # transformers may tie the output layer on construction; make it its own weights
    model.lm_head.weight = torch.nn.Parameter(torch.randn(args.vocab, args.d_model) * args.d_model ** -0.5)
  model.save_pretrained(out_dir, safe_serialization=True)
  return model


def build_hf_llama(args, out_dir, device="cpu"):
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  torch.manual_seed(args.seed)
  config = transformers.LlamaConfig(
      vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.d_ff, num_hidden_layers=args.layers,
      num_attention_heads=args.heads, num_key_value_heads=args.kv_heads, head_dim=args.d_kv,
      tie_word_embeddings=False, bos_token_id=None, eos_token_id=1, pad_token_id=0)
  with torch.device(device):
    model = transformers.LlamaForCausalLM(config).eval()
  model.save_pretrained(out_dir, safe_serialization=True)
  return model


def limit_xla_threads(args):
  """--threads 1: XLA's CPU backend on single-threaded Eigen (call before jax is imported)."""
  if args.threads == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()


def import_into_flan(model_dir, args):
  """(config, params) of the saved HF model in flan, in --dtype (weights and activations)."""
  import jax  # pylint: disable=import-outside-toplevel
  from flan.models import hf  # pylint: disable=import-outside-toplevel
  from flan.models import hf_llama  # pylint: disable=import-outside-toplevel
  config, params = (hf_llama.import_llama if args.family == "decoder" else hf.import_hf)(model_dir)
  return config.replace(dtype=args.dtype), jax.tree.map(lambda x: jax.numpy.asarray(x, args.dtype), params)


def make_inputs(args):
  """The prompts [batch, input_length]: random ids (below any tokenizer's special range), each ending in EOS."""
  rng = np.random.default_rng(args.seed)
  inputs = rng.integers(2, min(args.vocab, 32000), size=(args.batch, args.input_length)).astype(np.int32)
  inputs[:, -1] = 1  # EOS
  return inputs


def time_runs(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
  return result, times


def bytes_read_per_step(params, args, decoder):
  """Bytes one greedy step must read at least: every weight the step multiplies by (the decoder stack and the
  output layer; the T5 cross-attention keys/values were projected once), the cross-attention keys/values of
  the inputs and, on average, half of the self-attention cache. Embedding rows gathered are left out."""
  import jax  # pylint: disable=import-outside-toplevel
  total = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    name = jax.tree_util.keystr(path)
    once = "encoder_decoder_attention" in name and ("'key'" in name or "'value'" in name)
    if ("decoder" in name or decoder) and "embedding" not in name and not once:
      total += leaf.size * leaf.dtype.itemsize
  kv_heads = args.kv_heads if decoder else args.heads
  itemsize = 2 if args.dtype == "bfloat16" else 4
  per_position = args.layers * args.batch * kv_heads * args.d_kv * 2 * itemsize  # keys and values
  cached = (args.input_length + args.new_tokens / 2) if decoder else args.new_tokens / 2
  return total + per_position * (cached + (0 if decoder else args.input_length))


def roofline_seconds(config, params, args, decoder):
  """The fastest this decode could run here: the prompt's matmul FLOPs (encoder and cross-attention keys/values,
  or the decoder-only prefill) at the best matmul rate measured in this process, plus each step's bytes at
  XLA's streaming rate."""
  import torch  # pylint: disable=import-outside-toplevel
  if decoder:  # every prompt token through the layers' matmuls (attention left out), the output layer once
    q, kv = config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim
    per_token = config.num_layers * config.emb_dim * (2 * q + 2 * kv + 3 * config.mlp_dim)
    prompt_flops = 2.0 * args.batch * (args.input_length * per_token + config.emb_dim * config.vocab_size)
  else:
    from flan.trainer import flops  # pylint: disable=import-outside-toplevel
    prompt_flops = flops.forward_flops(config, args.batch, args.input_length, 0)
  gpu = args.device == "gpu"
  matmul = max(roofline.xla_matmul_rate(8192 if gpu else 2048, "bfloat16" if gpu else "float32"),
               roofline.torch_matmul_rate(8192 if gpu else 2048, "cuda" if gpu else "cpu"))
  bandwidth = roofline.xla_stream_bandwidth()
  step_bytes = bytes_read_per_step(params, args, decoder)
  floor = prompt_flops / matmul + args.new_tokens * step_bytes / bandwidth
  return floor, (f"roofline: prompt {prompt_flops / 1e9:.1f} GFLOP at {matmul / 1e9:.0f} GFLOP/s (best square "
                 f"matmul here) + {args.new_tokens} steps x {step_bytes / 2 ** 20:.1f} MiB read at "
                 f"{bandwidth / 1e9:.1f} GB/s (XLA streaming a 256 MiB array) = {floor:.3f}s at least")


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  limit_xla_threads(args)
  if args.device == "cpu":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel

  from flan.models import decoder_decoding  # pylint: disable=import-outside-toplevel
  from flan.models import decoding  # pylint: disable=import-outside-toplevel

  torch_device = "cuda" if args.device == "gpu" else "cpu"
  if args.device == "gpu" and (jax.default_backend() != "gpu" or not torch.cuda.is_available()):
    raise SystemExit(f"decode_throughput: error: --device gpu, but jax's backend is {jax.default_backend()!r} "
                     f"and torch.cuda.is_available() is {torch.cuda.is_available()}")
  if args.threads:
    torch.set_num_threads(args.threads)
  decoder = args.family == "decoder"
  with tempfile.TemporaryDirectory() as tmp:
    hf_model = (build_hf_llama if decoder else build_hf_model)(args, tmp, torch_device)
    hf_model = hf_model.to(dtype=getattr(torch, args.dtype))
    config, params = import_into_flan(tmp, args)

  inputs = make_inputs(args)
  generated_tokens = args.batch * args.new_tokens

  ids = torch.from_numpy(inputs.astype(np.int64)).to(torch_device)
  hf_model.generation_config.eos_token_id = None  # every row generates new_tokens tokens, as flan's below

  def run_hf():
    start_token = {} if decoder else {"decoder_start_token_id": 0}
    with torch.no_grad():
      out = hf_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.new_tokens,
                              min_new_tokens=args.new_tokens, do_sample=False, num_beams=args.num_beams,
                              pad_token_id=0, **start_token,
                              **({"length_penalty": 0.0} if args.num_beams > 1 else {}))
    if torch_device == "cuda":
      torch.cuda.synchronize()
    return out.cpu().numpy()[:, ids.shape[1] if decoder else 1:]

  method = "greedy" if args.num_beams == 1 else "beam"

  def run_flan():
    if decoder:
      return decoder_decoding.generate_tokens(
          config, params, inputs, np.full((args.batch,), args.input_length), method=method,
          beam_size=args.num_beams, length_penalty=0.0, max_new_tokens=args.new_tokens, eos_id=-1)
    return decoding.decode_tokens(config, params, inputs, method=method, beam_size=args.num_beams,
                                  length_penalty=0.0, max_decode_length=args.new_tokens, eos_id=-1)

  start = time.perf_counter()
  run_flan()
  flan_first = time.perf_counter() - start
  flan_out, flan_times = time_runs(run_flan, args.repeats)
  run_hf()  # warm-up
  hf_out, hf_times = time_runs(run_hf, args.repeats)

  flan_time, hf_time = statistics.median(flan_times), statistics.median(hf_times)
  flan_tps, hf_tps = generated_tokens / flan_time, generated_tokens / hf_time
  agreement = float(np.mean(flan_out[:, :hf_out.shape[1]] == hf_out)) if hf_out.shape == flan_out.shape else None
  print(f"machine: {platform.platform()}; {platform.processor() or platform.machine()}; "
        f"{os.cpu_count()} CPUs; jax {jax.__version__} on {jax.devices()[0].device_kind} "
        f"x{jax.device_count()}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; torch {torch.__version__} on "
        f"{torch_device} ({torch.get_num_threads()} threads); "
        f"transformers {transformers.__version__}; load average {os.getloadavg()[0]:.1f}")
  layers = f"{args.layers} decoder (kv heads {args.kv_heads})" if decoder else f"{args.layers}+{args.layers}"
  peer = "LlamaForCausalLM" if decoder else "T5ForConditionalGeneration"
  print(f"model ({args.family}; peer {peer}): d_model={args.d_model} d_ff={args.d_ff} heads={args.heads}x{args.d_kv} "
        f"layers={layers} vocab={args.vocab}, {args.dtype}; batch={args.batch} input_length={args.input_length} "
        f"new_tokens={args.new_tokens} {method}" + (f" beams={args.num_beams}" if args.num_beams > 1 else ""))
  print(f"flan  {'generate_tokens' if decoder else 'decode_tokens'}: {flan_tps:10.1f} tokens/s "
        f"(median {flan_time:.3f}s of {args.repeats}; "
        f"first call incl. compile {flan_first:.2f}s)")
  print(f"HF    generate     : {hf_tps:10.1f} tokens/s (median {hf_time:.3f}s of {args.repeats})")
  print(f"ratio flan / HF    : {flan_tps / hf_tps:.2f}x")
  if args.num_beams == 1:
    floor, explained = roofline_seconds(config, params, args, decoder)
    print(f"{explained}; flan takes {flan_time / floor:.2f}x that, HF {hf_time / floor:.2f}x, so no "
          f"implementation can exceed {hf_time / floor:.2f}x HF on this machine")
  if agreement is not None:
    print(f"greedy/beam token agreement with HF: {100 * agreement:.1f}%")


if __name__ == "__main__":
  main()
