#!/usr/bin/env bash
# Train flan on a Cloud TPU VM slice (one or many hosts) with gcloud.
#
#   launch/tpu_pod.sh ACTION --name NAME --zone ZONE --type v4-32 [options] [-- flan-train flags]
#
# ACTION   create   create the TPU VM slice
#          setup    copy this checkout to every worker and install it in ~/flan-venv (Python 3.11)
#          train    start flan-train on every worker (in the background; output in ~/flan-train.log)
#          logs     stream worker 0's log (Ctrl-C stops streaming, not training)
#          stop     SIGTERM the trainer on every worker (it saves a checkpoint and exits)
#          delete   delete the slice
#          all      create, setup, train, logs
# Options  --project P        gcloud project (default: gcloud's configured one)
#          --version V        TPU software version (default by generation: tpu-ubuntu2204-base for v4,
#                             v2-alpha-tpuv5-lite for v5e, v2-alpha-tpuv5 for v5p, v2-alpha-tpuv6e for v6e)
#          --spot             create a Spot (preemptible) slice
#          --model-dir DIR    where checkpoints and logs go; must be gs://... on a multi-host slice
#          --hardware FILE    mesh preset gin file (default gin/hardware/tpu_<type>.gin when it exists)
#          --gin_file FILE    more gin files (repeatable); anything after "--" goes to flan-train as is
#          --dry-run          print the commands instead of running them
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/launch/lib.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

ACTION=${1:-}
[[ -z "$ACTION" || "$ACTION" == -h || "$ACTION" == --help ]] && usage
shift
case "$ACTION" in create|setup|train|logs|stop|delete|all) ;; *) die "unknown action '$ACTION'";; esac

JAX_VERSION=${JAX_VERSION:-0.10.2}
NAME="" ZONE="" PROJECT="" TYPE="" VERSION="" SPOT=0 MODEL_DIR="" HARDWARE=""
GIN_FILES=() TRAIN_ARGS=()
while (($#)); do
  case "$1" in
    --name) NAME=$2; shift 2;;
    --zone) ZONE=$2; shift 2;;
    --project) PROJECT=$2; shift 2;;
    --type) TYPE=$2; shift 2;;
    --version) VERSION=$2; shift 2;;
    --spot) SPOT=1; shift;;
    --model-dir) MODEL_DIR=$2; shift 2;;
    --hardware) HARDWARE=$2; shift 2;;
    --gin_file) GIN_FILES+=("$2"); shift 2;;
    --gin_file=*) GIN_FILES+=("${1#--gin_file=}"); shift;;
    --dry-run) DRY_RUN=1; shift;;
    -h|--help) usage;;
    --) shift; TRAIN_ARGS+=("$@"); break;;
    *) die "unknown option '$1' (flan-train flags go after --)";;
  esac
done
[[ -n "$NAME" ]] || die "--name is required"
[[ -n "$ZONE" ]] || die "--zone is required"

# Hosts in a slice, from the accelerator type (v2/v3: 8 cores per host; v4/v5p: 2 cores per chip,
# 4 chips per host; v5e/v6e: slices of up to 8 chips are one host, larger ones have 4 chips per host).
tpu_hosts() {
  local generation=${1%-*} count=${1##*-}
  [[ "$count" =~ ^[0-9]+$ ]] || die "--type '$1' is not of the form GENERATION-COUNT (e.g. v4-32)"
  case "$generation" in
    v2|v3) echo $(( (count + 7) / 8 ));;
    v4|v5p) echo $(( (count / 2 + 3) / 4 ));;
    v5litepod|v5e|v6e) if ((count <= 8)); then echo 1; else echo $((count / 4)); fi;;
    *) die "unknown TPU generation '$generation' in --type $1 (known: v2, v3, v4, v5p, v5e/v5litepod, v6e)";;
  esac
}

if [[ "$ACTION" == create || "$ACTION" == all || "$ACTION" == train ]]; then
  [[ -n "$TYPE" ]] || die "--type is required for '$ACTION' (e.g. --type v4-32)"
fi
GCLOUD_TYPE=${TYPE/#v5e-/v5litepod-}
HOSTS=""
if [[ -n "$TYPE" ]]; then
  HOSTS=$(tpu_hosts "$GCLOUD_TYPE")
  note "slice $GCLOUD_TYPE: $HOSTS host(s); every command that runs flan uses --worker=all"
fi
if [[ -z "$VERSION" ]]; then
  case "$GCLOUD_TYPE" in
    v5litepod-*) VERSION=v2-alpha-tpuv5-lite;;
    v5p-*) VERSION=v2-alpha-tpuv5;;
    v6e-*) VERSION=v2-alpha-tpuv6e;;
    *) VERSION=tpu-ubuntu2204-base;;
  esac
fi
if [[ -z "$HARDWARE" && -n "$TYPE" ]]; then
  preset="gin/hardware/tpu_${TYPE//-/_}.gin"
  [[ -f "$REPO/$preset" ]] && HARDWARE=$preset
fi
if [[ "$ACTION" == train || "$ACTION" == all ]]; then
  [[ -n "$MODEL_DIR" ]] || die "--model-dir is required for '$ACTION'"
  if ((HOSTS > 1)) && [[ "$MODEL_DIR" != gs://* ]]; then
    die "--model-dir $MODEL_DIR: a $HOSTS-host slice needs a directory every worker shares (gs://bucket/...)"
  fi
  [[ -n "$HARDWARE" ]] || die "no mesh preset gin/hardware/tpu_${TYPE//-/_}.gin; pass --hardware FILE"
fi

TPU=(gcloud compute tpus tpu-vm)
WHERE=(--zone="$ZONE")
[[ -n "$PROJECT" ]] && WHERE+=(--project="$PROJECT")
ssh_all() { run "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all --command="$1"; }

do_create() {
  local spot=()
  ((SPOT)) && spot=(--spot)
  run "${TPU[@]}" create "$NAME" "${WHERE[@]}" --accelerator-type="$GCLOUD_TYPE" --version="$VERSION" "${spot[@]}"
}

do_setup() {
  local archive=/tmp/flan-src-$NAME.tar.gz
  note "package this checkout (committed files at HEAD) and copy it to every worker"
  run git -C "$REPO" archive --format=tar.gz --prefix=flan/ -o "$archive" HEAD
  run "${TPU[@]}" scp "$archive" "$NAME":flan-src.tar.gz "${WHERE[@]}" --worker=all
  ssh_all "set -e; rm -rf ~/flan && tar xzf ~/flan-src.tar.gz -C ~ \
&& (command -v python3.11 || (sudo apt-get update -q && sudo apt-get install -y -q python3.11 python3.11-venv)) \
&& python3.11 -m venv ~/flan-venv && ~/flan-venv/bin/pip install -q --upgrade pip \
&& ~/flan-venv/bin/pip install -q -e ~/flan \"jax[tpu]==$JAX_VERSION\""
}

do_train() {
  local args=(--gin_file="$HARDWARE")
  local f
  for f in "${GIN_FILES[@]}"; do args+=(--gin_file="$f"); done
  args+=("--gin.MODEL_DIR=\"$MODEL_DIR\"" "${TRAIN_ARGS[@]}")
  local env="FLAN_DISTRIBUTED=off"
  ((HOSTS > 1)) && env="FLAN_DISTRIBUTED=tpu_pod"
  note "start training on all $HOSTS worker(s); each joins jax.distributed through the TPU metadata"
  ssh_all "cd ~/flan && $env setsid nohup ~/flan-venv/bin/python -m flan.train $(escape_words "${args[@]}") \
> ~/flan-train.log 2>&1 < /dev/null & echo \$! > ~/flan-train.pid"
}

do_logs() {
  run "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker=0 --command="tail -n +1 -F ~/flan-train.log"
}

do_stop() {
  ssh_all "if [ -f ~/flan-train.pid ]; then kill -TERM \$(cat ~/flan-train.pid) || true; fi"
}

do_delete() {
  run "${TPU[@]}" delete "$NAME" "${WHERE[@]}" --quiet
}

case "$ACTION" in
  create) do_create;;
  setup) do_setup;;
  train) do_train;;
  logs) do_logs;;
  stop) do_stop;;
  delete) do_delete;;
  all) do_create; do_setup; do_train; do_logs;;
esac
