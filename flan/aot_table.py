"""The table of which model sizes fit which slices, from ahead-of-time compiles (flan.aot), as markdown.

  python -m flan.aot_table --results-dir /tmp/aot --out launch/MEMORY.md   # the documented rows (needs libtpu)
  python -m flan.aot_table --rows large:v4-8,xl:v4-32 --out /tmp/table.md
  python -m flan.aot_table --sizes large,xl --slices v4-8,v5e-16 --out /tmp/table.md   # every pair

Each row compiles the Flan-T5 finetuning step (batch 64, lengths 2048:512, packed, dropout 0.05, scanned
layers) with the mesh of the slice's gin/hardware preset, in its own subprocess. Remat policies are tried from
the one that recomputes least ("save_dots": matmul outputs kept) to "full" (the layer input only), then
gradient accumulation (more microbatches), until the step fits: the first that fits is the row's choice. The
FLOPs column compares XLA's count for that setting (flan.aot.flops_report, one CPU measurement per size and
remat policy, shared by the slices) with the model's analytic FLOPs.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

from flan import aot

# slice -> (mesh flag, gin preset): the same mesh as the preset the launch scripts pass.
PRESETS = {
    "v4-8": ("data=1,fsdp=4,model=1", "gin/hardware/tpu_v4_8.gin"),
    "v4-32": ("data=1,fsdp=16,model=1", "gin/hardware/tpu_v4_32.gin"),
    "v5e-8": ("data=1,fsdp=8,model=1", "gin/hardware/tpu_v5e_8.gin"),
    "v5e-16": ("data=1,fsdp=16,model=1", "gin/hardware/tpu_v5e_16.gin"),
    "v5p-8": ("data=1,fsdp=4,model=1", "gin/hardware/tpu_v5p_8.gin"),
}
# The rows launch/MEMORY.md documents: each size on the slices it is meant for (launch/README.md).
DOCUMENTED_ROWS = ("base:v5e-8", "base:v4-8", "large:v5e-8", "large:v4-8", "xl:v4-8", "xl:v5e-16", "xl:v4-32",
                   "xxl:v4-32", "xxl:v5e-16", "xxl:v5p-8")
MICROBATCH_TRIES = (1, 4, 16)
REMAT_TRIES = ("save_dots", "full")


def compile_in_subprocess(size, slice_name, mesh, microbatches, batch, lengths, timeout_s, results_dir=None,
                          cached_only=False, remat="full"):
  """One `python -m flan.aot --json` compile for a TPU slice; kept in results_dir (when given) and reused."""
  flags = ["--size", size, "--mesh", mesh, "--batch", str(batch), "--lengths", lengths,
           "--target", f"tpu-{slice_name}", "--fsdp-embed", "--microbatches", str(microbatches), "--remat", remat]
  return _aot_in_subprocess(flags, _file_name(flags), "compiled", timeout_s, results_dir, cached_only)


def flops_in_subprocess(size, remat, batch, lengths, timeout_s, results_dir=None, cached_only=False):
  """flan.aot's FLOPs report (`--flops-only`) for one size and remat policy; kept in results_dir and reused.
  It does not depend on the slice: the arithmetic of the step is the same on every mesh."""
  flags = ["--size", size, "--batch", str(batch), "--lengths", lengths, "--remat", remat]
  result = _aot_in_subprocess(flags + ["--flops-only"], "flops_" + _file_name(flags), "measured", timeout_s,
                              results_dir, cached_only)
  return result.get("flops", result)


def _file_name(flags):
  """The results-dir file name of a run with these flags (without .json)."""
  return "_".join(f.lstrip("-").replace("=", "").replace(",", "").replace(":", "x") for f in flags)


def _aot_in_subprocess(flags, name, done_word, timeout_s, results_dir, cached_only):
  """`python -m flan.aot FLAGS --json` in its own process, its JSON kept as results_dir/NAME.json and reused;
  {"error": ...} when it fails (not kept)."""
  saved = None
  if cached_only and not results_dir:
    raise ValueError("--cached-only needs --results-dir")
  if results_dir:
    saved = os.path.join(results_dir, name + ".json")
    if os.path.exists(saved):
      with open(saved, encoding="utf-8") as f:
        return json.load(f)
    if cached_only:
      return {"error": f"not {done_word} yet (no result in --results-dir)"}
  started = time.perf_counter()
  try:
    done = subprocess.run([sys.executable, "-m", "flan.aot", *flags, "--json"], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
  except subprocess.TimeoutExpired:
    return {"error": f"flan.aot took longer than {timeout_s} s"}
  if done.returncode != 0:
    lines = [l for l in (done.stderr or "").splitlines() if l.startswith("error:") or "Error" in l]
    return {"error": (lines[-1] if lines else f"exit code {done.returncode}")[:200]}
  result = json.loads(done.stdout.strip().splitlines()[-1])
  result["wall_seconds"] = round(time.perf_counter() - started, 1)
  if saved:
    os.makedirs(results_dir, exist_ok=True)
    with open(saved, "w", encoding="utf-8") as f:
      json.dump(result, f)
  return result


def _summary(result):
  if "error" in result:
    return result["error"]
  if "out_of_memory" in result:
    return f"does not fit ({_oom_needs(result['out_of_memory'])})"
  return f"{result['memory']['peak'] / aot.GIB:.2f} GiB, fits={result['fits']}"


def _oom_needs(message):
  """'... HLO temporaries (45.77G) exceeds available HBM (30.75G)' -> 'needs 45.77G of 30.75G'."""
  found = re.search(r"\(([\d.]+[KMGT]?)\)[^(]*exceeds available HBM \(([\d.]+[KMGT]?)\)", message)
  if found:
    return f"temporaries alone {found.group(1)} > {found.group(2)} usable"
  return message[:120]


def plan_row(size, slice_name, batch, lengths, timeout_s, log, results_dir=None, cached_only=False):
  """Tries the settings in turn until one fits, then measures the FLOPs of that setting (of the last one
  compiled when none fits)."""
  mesh, preset = PRESETS[slice_name]
  tried = _try_settings(size, slice_name, mesh, batch, lengths, timeout_s, log, results_dir, cached_only)
  row = {"size": size, "slice": slice_name, "mesh": mesh, "preset": preset, "tried": tried}
  compiled = [remat for _, remat, result in tried if "memory" in result]
  if compiled:
    remat = compiled[-1]
    row["flops"] = flops_in_subprocess(size, remat, batch, lengths, timeout_s, results_dir, cached_only)
    row["flops_remat"] = remat
    log(f"{size} with remat {remat}: FLOPs " + (row["flops"].get("error") or f"ratio {row['flops']['ratio']:.2f}"))
  return row


def _try_settings(size, slice_name, mesh, batch, lengths, timeout_s, log, results_dir, cached_only):
  """(microbatches, remat, result) of each setting compiled, in order, up to the first that fits or fails."""
  tried = []
  data, fsdp, _ = aot.parse_mesh(mesh)
  for microbatches in MICROBATCH_TRIES:
    if batch % microbatches or (batch // microbatches) % (data * fsdp):
      break  # the trainer refuses microbatches that do not split over data x fsdp
    for remat in REMAT_TRIES:
      result = compile_in_subprocess(size, slice_name, mesh, microbatches, batch, lengths, timeout_s, results_dir,
                                     cached_only, remat=remat)
      log(f"{size} on {slice_name} with {microbatches} microbatch(es), remat {remat}: " + _summary(result))
      tried.append((microbatches, remat, result))
      if "error" in result or result["fits"]:
        return tried
  return tried


def format_row(row):
  gib = lambda b: f"{b / aot.GIB:.1f}"
  hbm = aot.TPU_SLICES[row["slice"]][3]
  devices = aot.target_device_count(f"tpu-{row['slice']}")
  cells = []
  verdict = "no"
  flops = "-"
  if "error" in row.get("flops", {}):
    flops = row["flops"]["error"]
  elif "flops" in row:
    flops = f"{row['flops']['ratio']:.2f} (remat {row['flops_remat']})"
  for microbatches, remat, result in row["tried"]:
    label = f"{microbatches} mb, {remat}"
    if "error" in result and result["error"].startswith("not compiled yet"):
      cells.append(f"{label}: not compiled yet")
      verdict = "not measured"
      continue
    if "error" in result:
      cells.append(f"{label}: error ({result['error']})")
      verdict = "unknown"
      continue
    if "out_of_memory" in result:
      cells.append(f"{label}: out of memory ({_oom_needs(result['out_of_memory'])})")
      continue
    memory = result["memory"]
    cells.append(f"{label}: {gib(memory['peak'])} GiB (args {gib(memory['arguments'])}, "
                 f"temp {gib(memory['temporaries'])})")
    if result["fits"]:
      verdict = f"yes, remat {remat}" + ("" if microbatches == 1 else f", {microbatches} microbatches")
      if memory["peak"] > 0.95 * hbm * aot.GIB:
        verdict += " (tight)"
    else:
      over = memory["peak"] - hbm * aot.GIB
      cells[-1] += f", {gib(over)} GiB over"
  return (f"| {row['size']} | {row['slice']} ({devices} chips x {hbm} GiB) | `{row['preset']}` ({row['mesh']}) "
          f"| {'; '.join(cells)} | {verdict} | {flops} |")


def render(rows, batch, lengths, command_line, seconds):
  import jax  # pylint: disable=import-outside-toplevel
  try:
    from importlib import metadata  # pylint: disable=import-outside-toplevel
    libtpu_version = metadata.version("libtpu")
  except Exception:  # pylint: disable=broad-except
    libtpu_version = "from TPU_LIBRARY_PATH / PYTHONPATH"
  header = [
      "# Which Flan-T5 sizes fit which TPU slices",
      "",
      f"Train step of Flan-T5 finetuning (global batch {batch}, lengths {lengths.replace(':', ' / ')}, packed, "
      "dropout 0.05 (attention dropout too, as T5X), bfloat16 activations, float32 parameters, T5X Adafactor, "
      "scanned layers), the trainer's own step (flan.trainer.program), compiled ahead of time by the TPU "
      "compiler (libtpu) for each slice's topology, with the mesh of its `gin/hardware` preset. Memory is per "
      "chip from `compiled.memory_analysis()`: peak = arguments + outputs - donated (aliased) + temporaries. "
      "Tried in turn until the step fits: remat policy `save_dots` (keeps matmul outputs, least recompute), "
      "then `full` (keeps each layer's input only), at 1, 4 and 16 microbatches (`mb`, gradient accumulation, "
      "`train.num_microbatches`); the first that fits is the row's setting (`get_config.remat`); when none "
      "fits, the row says by how much the last one misses. The FLOPs column is XLA's count for the row's "
      "remat policy over the model's analytic FLOPs (3x the forward matmuls); above 1 is recomputation and "
      "other work. XLA counts a loop body once, so flan.aot.flops_report compiles the same step on the CPU "
      "with its loops unrolled (layers unscanned, one microbatch: k microbatches do the same arithmetic) at 2 "
      "and 3 layers per stack and extrapolates linearly to the model's depth (exact, as every layer of a stack "
      "is the same program; tests/test_aot.py checks it against a fully unrolled count). The count does not "
      "depend on the mesh, so rows of one size and policy share it.",
      "",
      "| size | slice | preset (mesh) | per-chip memory (microbatches, remat policy) | fits | XLA / model FLOPs |",
      "| --- | --- | --- | --- | --- | --- |",
  ]
  compile_seconds = sum(result.get("wall_seconds", 0) for row in rows for _, _, result in row["tried"])
  footer = [
      "",
      f"Generated by `{command_line}` on {platform.node() or 'this machine'} ({os.cpu_count()} CPU cores, "
      f"no TPU) with jax {jax.__version__}, libtpu {libtpu_version}, "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; the compiles took "
      f"{compile_seconds / 60:.0f} min of wall time in all (each in its own process; with --results-dir a "
      f"rerun reuses finished ones, this run took {seconds / 60:.0f} min).",
      "Only the TPU compiler's own plan is reported; XLA keeps a little more for its runtime, so treat a row "
      "within ~5% of the chip's memory as tight.",
  ]
  return "\n".join(header + [format_row(r) for r in rows] + footer) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m flan.aot_table", description=__doc__.split("\n\n", 1)[0])
  parser.add_argument("--rows", default=None,
                      help="SIZE:SLICE,... (default: the documented rows, %s)" % ",".join(DOCUMENTED_ROWS))
  parser.add_argument("--sizes", default=None, help="with --slices: every size on every slice")
  parser.add_argument("--slices", default=None, help="with --sizes (default: all presets)")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--lengths", default="2048:512")
  parser.add_argument("--timeout", type=int, default=1800, help="seconds per compile")
  parser.add_argument("--out", help="markdown file to write (default: print)")
  parser.add_argument("--results-dir", help="keep each compile's JSON here and reuse it on the next run")
  parser.add_argument("--cached-only", action="store_true",
                      help="compile nothing: tabulate the results already in --results-dir")
  args = parser.parse_args(argv)
  if args.rows and (args.sizes or args.slices):
    parser.error("give --rows, or --sizes and --slices, not both")
  if args.sizes or args.slices:
    pairs = [(size, slice_name) for size in (args.sizes or "xl,xxl").split(",")
             for slice_name in (args.slices or ",".join(PRESETS)).split(",")]
  else:
    pairs = [tuple(row.split(":", 1)) if ":" in row else (row, "") for row in
             (args.rows.split(",") if args.rows else DOCUMENTED_ROWS)]
  unknown = sorted({slice_name for _, slice_name in pairs if slice_name not in PRESETS})
  if unknown:
    parser.error(f"unknown slices {unknown} (rows are SIZE:SLICE); known: {', '.join(PRESETS)}")
  log = lambda message: print(message, file=sys.stderr, flush=True)
  started = time.perf_counter()
  command_line = "python -m flan.aot_table " + " ".join(argv if argv is not None else sys.argv[1:])
  rows = []
  for size, slice_name in pairs:
    rows.append(plan_row(size, slice_name, args.batch, args.lengths, args.timeout, log, args.results_dir,
                         args.cached_only))
    if args.out:  # rewritten after every row, so a long run leaves what it has measured so far
      write(args.out, render(rows, args.batch, args.lengths, command_line.strip(),
                             time.perf_counter() - started))
  text = render(rows, args.batch, args.lengths, command_line.strip(), time.perf_counter() - started)
  if args.out:
    write(args.out, text)
    log(f"wrote {args.out}")
  else:
    print(text, end="")
  return 0


def write(path, text):
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  sys.exit(main())
