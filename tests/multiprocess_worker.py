"""One process of the multi-process test: joins jax.distributed from the FLAN_* environment, trains the tiny
model with the trainer's library function on the global mesh, and prints its per-step losses as JSON.

Run by tests/test_multiprocess.py as `python -m tests.multiprocess_worker` from the checkout. Every process of a run gets the same arguments.
"""
import argparse
import json
import sys

from flan import distributed

LENGTHS = {"inputs": 16, "targets": 16}


def train_kwargs(model_dir, num_steps, data, fsdp, model, checkpoint_every=None):
  """The run every topology trains: tiny float32 model with dropout, synthetic batches of 8 rows."""
  from tests.trainer_tiny import tiny_config  # pylint: disable=import-outside-toplevel
  return dict(model_dir=model_dir, model_config=tiny_config(dropout_rate=0.1), mixture="synthetic",
              num_steps=num_steps, batch_size=8, feature_lengths=LENGTHS, mesh_data=data, mesh_fsdp=fsdp,
              mesh_model=model, fsdp_embed=True, checkpoint_every=checkpoint_every or num_steps,
              keep_checkpoints=5, async_checkpoints=True, stream=None)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--num_steps", type=int, required=True)
  parser.add_argument("--mesh", default="2,2,2", help="data,fsdp,model")
  args = parser.parse_args()

  group = distributed.initialize(timeout_s=60)  # before anything touches the devices
  import jax  # pylint: disable=import-outside-toplevel
  from flan.trainer import loop  # pylint: disable=import-outside-toplevel

  data, fsdp, model = (int(v) for v in args.mesh.split(","))
  result = loop.train(**train_kwargs(args.model_dir, args.num_steps, data, fsdp, model))
  print("RESULT " + json.dumps({
      "method": group.method, "process_index": jax.process_index(), "process_count": jax.process_count(),
      "local_devices": jax.local_device_count(), "global_devices": jax.device_count(),
      "losses": [record["loss"] for record in result["history"]], "step": result["step"],
      "checkpoint_steps": result["checkpoint_steps"]}), flush=True)
  distributed.shutdown()
  return 0


if __name__ == "__main__":
  sys.exit(main())
