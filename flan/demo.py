"""The CPU demo (`make demo`, or `python -m flan.demo`; `--gin_file=local/demo_decoder.gin` for the decoder-only
family): train a small T5 (or decoder) on the flan_demo mixture for a few
minutes, save a checkpoint, and compare held-out task accuracy (greedy decoding, exact match) before and
after. The held-out tasks use template wordings never seen in training.

No pretrained T5 is available offline, so the model starts from a random init and this shows instruction
tuning from scratch on generated tasks, not Flan-T5 quality.
"""
import argparse
import os
import sys
import tempfile
import time

from flan import host_memory

HELDOUT_EXAMPLES_PER_TASK = 64


def heldout_accuracy(config, params, tokenizer, examples):
  """{task: exact-match accuracy of greedy predictions} and one (input, prediction, target) per task."""
  from flan.trainer import evaluation  # pylint: disable=import-outside-toplevel
  scores, samples = {}, []
  for task, pairs in examples.items():
    scores[task], predictions = evaluation.exact_match_accuracy(config, params, tokenizer, pairs)
    samples.append((pairs[0][0], predictions[0], pairs[0][1]))
  return scores, samples


def _print_accuracy(title, scores, samples):
  print(f"\n{title}")
  for task, score in scores.items():
    print(f"  {task:32s} {score * 100:5.1f}%")
  for inputs, prediction, target in samples:
    print(f"    e.g. {inputs!r} -> {prediction!r} (target {target!r})")


def main(argv=None):
  if argv is None:
    host_memory.restart_with_huge_pages("flan.demo", sys.argv[1:])
  parser = argparse.ArgumentParser(prog="flan-demo", description=__doc__.splitlines()[0])
  parser.add_argument("--model_dir", default=None, help="default: a new temporary directory")
  parser.add_argument("--steps", type=int, default=None, help="train steps (gin/local/demo.gin: 400)")
  parser.add_argument("--gin_file", default="local/demo.gin",
                      help="local/demo.gin (T5) or local/demo_decoder.gin (a decoder-only model)")
  args = parser.parse_args(argv)
  started = time.time()
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  # pylint: disable=import-outside-toplevel
  import jax
  from flan import gin_args, train
  from flan.data import demo
  from flan.models import families
  from flan.models import tokenizer as tokenizer_lib
  from flan.trainer import state as state_lib
  from flan.trainer.run_config import RunConfig

  print(f"flan demo ({args.gin_file}): instruction tuning a small model on generated tasks (flan_demo mixture) "
        "on the CPU.")
  print("No pretrained checkpoint is available offline: the model starts from a RANDOM init, so this is\n"
        "instruction tuning from scratch on toy tasks, not a Flan-T5 reproduction.")
  vocabulary_path = demo.VOCABULARY.sentencepiece_model_file
  tokenizer = tokenizer_lib.Tokenizer(vocabulary_path)
  vocab_size = -(-tokenizer.vocab_size // 128) * 128
  model_dir = args.model_dir or tempfile.mkdtemp(prefix="flan_demo_")
  print(f"vocabulary {vocabulary_path} ({tokenizer.vocab_size} pieces; model vocab {vocab_size})")
  print(f"model directory {model_dir}")

  bindings = [f"MODEL_DIR = '{model_dir}'", f"VOCAB_SIZE = {vocab_size}"]
  if args.steps:
    bindings.append(f"TRAIN_STEPS = {args.steps}")
  from flan.trainer import loop  # registers the train bindings  # pylint: disable=unused-import
  gin_args.parse_gin([args.gin_file], bindings)
  config = RunConfig().model_config
  from flan.trainer import evaluation
  examples = {task: evaluation.text_examples(task, HELDOUT_EXAMPLES_PER_TASK) for task in demo.HELDOUT_TASKS}
  model = families.model_for(config)
  random_params = state_lib.unbox(model.init(jax.random.key(0), *model.dummy_inputs())["params"])
  before, before_samples = heldout_accuracy(config, random_params, tokenizer, examples)
  _print_accuracy("held-out accuracy BEFORE training (random init, seed 0, the run's own init):", before,
                  before_samples)

  print(f"\ntraining ({time.time() - started:.0f}s since start)")
  result = train.run([args.gin_file], bindings)
  history = result["history"]
  first, last = history[0]["loss"], sum(r["loss"] for r in history[-10:]) / len(history[-10:])
  print(f"loss: first step {first:.3f} -> mean of the last 10 steps {last:.3f}")

  saved_config, params = families.load_pretrained_any(model_dir)
  after, after_samples = heldout_accuracy(saved_config, params, tokenizer, examples)
  _print_accuracy(f"held-out accuracy AFTER {result['step']} steps (params read back from the checkpoint):",
                  after, after_samples)
  mean = lambda scores: sum(scores.values()) / len(scores)
  print(f"\nmean held-out accuracy: before {mean(before) * 100:.1f}% -> after {mean(after) * 100:.1f}%")
  print(f"checkpoint: {os.path.join(model_dir, 'checkpoints')}; metrics: {os.path.join(model_dir, 'metrics.jsonl')}; "
        f"TensorBoard: {os.path.join(model_dir, 'tensorboard')}")
  print(f"demo finished in {time.time() - started:.0f}s")
  ok = last < first and mean(after) > mean(before)
  if not ok:
    print("demo check FAILED: expected the loss to fall and held-out accuracy to rise", file=sys.stderr)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
