#!/usr/bin/env bash
# flan against transformers on one GPU machine, in one go: the train step (bench/train_throughput.py --device gpu:
# base, large and xl at 1024/256 in bfloat16, with MFU) and cached greedy decoding (bench/decode_throughput.py
# --device gpu, the same sizes, batch 32, 256 in, 128 new, bfloat16). One log per benchmark under $OUT (the
# device tool's results folder) or bench/gpu_results/, written size by size, and the seconds each size took.
#
#   bash bench/gpu_bench.sh                   # on the GPU machine, from anywhere in the repository
#   SIZES=base bash bench/gpu_bench.sh        # fewer sizes
#   PYTHON=.venv/bin/python bash bench/gpu_bench.sh --rehearse   # on the CPU: the same steps at toy sizes
#
# The GPU machine has jax, flax, optax, orbax, torch and transformers but not gin-config, which flan's model and
# trainer configs import: `make gpu-wheels` saves its wheel in .whl/, installed from there when present (carry
# .whl to the machine). Nothing else is installed: flan runs from this checkout through PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
out=${OUT:-bench/gpu_results}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/flan_wheels \
    .whl/*.whl
  export PYTHONPATH=/tmp/flan_wheels${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ "${1:-}" = --rehearse ]; then
  train=(--device cpu --batch 2 --input_length 32 --target_length 8 --steps 1)
  decode=(--device cpu --batch 2 --input_length 16 --new_tokens 4 --repeats 1)
  sizes=tiny
else
  nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed; see $out/nvidia-smi.txt"
  sizes=${SIZES:-base,large,xl}
  train=(--device gpu)
  decode=(--device gpu)
fi
# Size by size, smallest first, so that a run cut short still leaves whole results for the sizes it reached; a
# benchmark that fails (out of memory, say) is noted and the others still run.
failed=0
for size in ${sizes//,/ }; do
  started=$SECONDS
  for bench in train decode; do
    if [ $bench = train ]; then args=("${train[@]}" --sizes "$size"); else args=("${decode[@]}" --size "$size"); fi
    if ! "$python" "bench/${bench}_throughput.py" "${args[@]}" 2>&1 | tee "$out/${bench}_$size.txt"; then
      echo "$bench $size: FAILED (log in $out/${bench}_$size.txt)" | tee -a "$out/seconds.txt"
      failed=1
    fi
  done
  echo "$size: $((SECONDS - started)) s" | tee -a "$out/seconds.txt"
done
echo "results in $out"
exit $failed
