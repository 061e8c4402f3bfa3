"""Examples per second of the contamination scan on one core, against a plain-Python n-gram matcher.

Generated data: benchmark items and training examples drawn from a Zipf-distributed vocabulary of made-up
words, with some items copied into training examples. Both matchers get the same texts and the same
normalized tokens; the peer keeps the index as a Python set of 13-word tuples and tests every window of
every example (what one writes first). Ours (flan.data.contamination_match.Matcher) hashes the batch's
windows with numpy and looks them up in a sorted array, then attributes and marks only the hits. The two
must flag the same examples; rounds alternate between them and the median rate is printed.

  python bench/contamination_scan.py                       # 20,000 examples of ~200 words, 20,000 items
  python bench/contamination_scan.py --examples 2000 --items 1000 --rounds 1   # a quick check
"""
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ[_variable] = "1"  # one core: numpy must not start thread pools

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from flan.data import contamination_index  # noqa: E402
from flan.data import contamination_match  # noqa: E402
from flan.data import contamination_ngrams as ngrams  # noqa: E402

BATCH = 256


def machine() -> str:
  return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs (one used), Python {platform.python_version()}, numpy {np.__version__}")


def generate(num_items: int, num_examples: int, words_per_example: int, copies: int, seed: int = 0):
  rng = np.random.default_rng(seed)
  letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
  vocabulary = ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(20_000)]
  weights = 1.0 / np.arange(1, len(vocabulary) + 1)
  weights /= weights.sum()

  def sentence(length):
    words = [vocabulary[i] for i in rng.choice(len(vocabulary), length, p=weights)]
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice([".", "?", "!"])

  items = [contamination_index.EvalItem(f"gen/s{i % 10}/{i}", "gen", f"s{i % 10}", sentence(int(rng.integers(20, 60))))
           for i in range(num_items)]
  examples = []
  for _ in range(num_examples):
    inputs = sentence(int(words_per_example * 0.8))
    examples.append((f"Read the text and answer.\n{inputs}", sentence(int(words_per_example * 0.2))))
  for position in rng.choice(num_examples, copies, replace=False):
    inputs, targets = examples[position]
    item = items[int(rng.integers(num_items))].text
    examples[position] = (f"{inputs} {item.upper()}", targets)
  return items, examples


def run_ours(index, examples):
  result = contamination_match.empty_result(mixture="bench", split="train", index=index, max_examples=None,
                                            shard=(0, 1), tasks=["bench"])
  matcher = contamination_match.Matcher(index, result)
  start = time.perf_counter()
  for begin in range(0, len(examples), BATCH):
    matcher.add_batch("bench", begin, examples[begin:begin + BATCH])
  return time.perf_counter() - start, result["tasks"]["bench"]["overlapping"]


def naive_index(items, n):
  grams = set()
  for item in items:
    words = tuple(ngrams.tokens(item.text))
    length = min(n, len(words))
    grams.update(words[i:i + length] for i in range(len(words) - length + 1))
  return grams


def run_naive(grams, n, examples):
  count = 0
  start = time.perf_counter()
  for inputs, targets in examples:
    words = ngrams.tokens(f"{inputs}\n{targets}")
    if any(tuple(words[i:i + n]) in grams for i in range(len(words) - n + 1)):
      count += 1
  return time.perf_counter() - start, count


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--examples", type=int, default=20_000)
  parser.add_argument("--items", type=int, default=20_000)
  parser.add_argument("--words", type=int, default=200, help="words per training example")
  parser.add_argument("--copies", type=int, default=50, help="training examples holding a copied item")
  parser.add_argument("--n", type=int, default=ngrams.DEFAULT_N)
  parser.add_argument("--rounds", type=int, default=3)
  args = parser.parse_args(argv)
  items, examples = generate(args.items, args.examples, args.words, args.copies)
  index = contamination_index.Index.build(items, n=args.n)
  if index.lengths() != [args.n]:
    raise SystemExit(f"generated items shorter than n = {args.n}; the peer only handles full-length grams")
  grams = naive_index(items, args.n)
  ours_rates, naive_rates = [], []
  for _ in range(args.rounds):
    seconds, ours_count = run_ours(index, examples)
    ours_rates.append(len(examples) / seconds)
    seconds, naive_count = run_naive(grams, args.n, examples)
    naive_rates.append(len(examples) / seconds)
    if ours_count != naive_count:
      raise SystemExit(f"the matchers disagree: ours flags {ours_count} examples, the set of tuples {naive_count}")
  ours, naive = statistics.median(ours_rates), statistics.median(naive_rates)
  words = sum(len(ngrams.tokens(f"{i}\n{t}")) for i, t in examples) / len(examples)
  print(f"machine: {machine()}")
  print(f"data: {len(examples)} generated examples of {words:.0f} words, {len(items)} items "
        f"({sum(len(g.hashes) for g in index.gram_sets.values())} distinct {args.n}-grams), "
        f"{ours_count} examples overlap; median of {args.rounds} alternating round(s)")
  print(f"{'matcher':<36} {'examples/s':>11} {'words/s':>11}")
  print(f"{'flan (hashed windows, numpy)':<36} {ours:>11.0f} {ours * words:>11.0f}")
  print(f"{'plain Python set of tuples':<36} {naive:>11.0f} {naive * words:>11.0f}")
  print(f"flan / set of tuples = {ours / naive:.2f}x")


if __name__ == "__main__":
  main()
