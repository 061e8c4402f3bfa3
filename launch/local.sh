#!/usr/bin/env bash
# Train flan on this machine: the CPU, or this machine's GPUs (one process drives all of them).
#
#   launch/local.sh [options] [-- flan-train flags]
#
# Options  --model-dir DIR      where checkpoints and logs go (default runs/local)
#          --gpus LIST          GPUs to use, e.g. 0,1,2,3 (default: all that are visible; "none": the CPU)
#          --cpu-devices N      on the CPU, split it into N fake devices (to try a mesh; default 1)
#          --hardware FILE      mesh preset gin file (default: gin/hardware/gpu_1.gin or gpu_8.gin by the
#                               GPU count, none on the CPU)
#          --gin_file FILE      gin files (repeatable; default gin/local/demo.gin); anything after "--"
#                               goes to flan-train as is
#          --python PY          the Python with flan installed (default: .venv/bin/python of the checkout)
#          --dry-run            print the command instead of running it
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/launch/lib.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0; }

MODEL_DIR=runs/local GPUS="" CPU_DEVICES=1 HARDWARE="" PYTHON=""
GIN_FILES=() TRAIN_ARGS=()
while (($#)); do
  case "$1" in
    --model-dir) MODEL_DIR=$2; shift 2;;
    --gpus) GPUS=$2; shift 2;;
    --cpu-devices) CPU_DEVICES=$2; shift 2;;
    --hardware) HARDWARE=$2; shift 2;;
    --gin_file) GIN_FILES+=("$2"); shift 2;;
    --gin_file=*) GIN_FILES+=("${1#--gin_file=}"); shift;;
    --python) PYTHON=$2; shift 2;;
    --dry-run) DRY_RUN=1; shift;;
    -h|--help) usage;;
    --) shift; TRAIN_ARGS+=("$@"); break;;
    *) die "unknown option '$1' (flan-train flags go after --)";;
  esac
done
[[ "$CPU_DEVICES" =~ ^[1-9][0-9]*$ ]] || die "--cpu-devices must be a positive integer, got '$CPU_DEVICES'"
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
((${#GIN_FILES[@]})) || GIN_FILES=(gin/local/demo.gin)

count_gpus() {
  if [[ -n "$GPUS" ]]; then
    [[ "$GPUS" == none ]] && echo 0 || awk -F, '{print NF}' <<< "$GPUS"
  elif command -v nvidia-smi > /dev/null; then
    nvidia-smi --list-gpus 2> /dev/null | wc -l
  else
    echo 0
  fi
}
NUM_GPUS=$(count_gpus)

env_vars=(FLAN_DISTRIBUTED=off)
if ((NUM_GPUS == 0)); then
  note "on the CPU with $CPU_DEVICES device(s)"
  env_vars+=(JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES=)
  ((CPU_DEVICES > 1)) && env_vars+=(XLA_FLAGS=--xla_force_host_platform_device_count=$CPU_DEVICES)
else
  note "on $NUM_GPUS GPU(s)"
  [[ -n "$GPUS" ]] && env_vars+=(CUDA_VISIBLE_DEVICES="$GPUS")
  if [[ -z "$HARDWARE" ]]; then
    ((NUM_GPUS == 1)) && HARDWARE=gin/hardware/gpu_1.gin || HARDWARE=gin/hardware/gpu_8.gin
  fi
fi

args=()
[[ -n "$HARDWARE" ]] && args+=(--gin_file="$HARDWARE")
for f in "${GIN_FILES[@]}"; do args+=(--gin_file="$(absolute_if_here "$f")"); done
args+=("--gin.MODEL_DIR=\"$MODEL_DIR\"" "${TRAIN_ARGS[@]}")

cd "$REPO"
run env "${env_vars[@]}" "$PYTHON" -m flan.train "${args[@]}"
