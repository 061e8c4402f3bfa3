"""Matching training examples against a contamination index, and the mergeable result of a scan.

A training example is its rendered inputs and targets, scanned as one text (inputs, a line break, targets),
so that an item split between a prompt and its answer is still found. A batch is tested in one vectorized
pass; only the rare examples that hit go through the slower step that finds which items they overlap and
marks the overlap for the hits file. No TensorFlow here (the benchmark drives it with generated text).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

from flan.data import contamination_ngrams as ngrams

RESULT_FORMAT = "flan-contamination-scan/1"
MARK_LEFT, MARK_RIGHT = "[[", "]]"


def dataset_of(task_name: str) -> str:
  """The training dataset of a task: the name without its variant suffix ("glue_cola:zs_opt" -> "glue_cola")."""
  return task_name.split(":", 1)[0]


def empty_result(*, mixture: str, split: str, index, max_examples, shard: Tuple[int, int],
                 tasks: Sequence[str]) -> dict:
  """The result of scanning nothing yet. Everything a report needs is in it (no index needed later)."""
  return {"format": RESULT_FORMAT, "mixture": mixture, "split": split, "n": index.n,
          "index": index.fingerprint, "benchmarks": list(index.benchmarks), "max_examples": max_examples,
          "shard": list(shard), "subset_sizes": index.subset_sizes(),
          "tasks": {name: {"examples": 0, "overlapping": 0} for name in tasks},
          "hits": {}, "items": {}, "samples": {}}


class Matcher:
  """Adds batches of one task's examples to a result dict."""

  def __init__(self, index, result: dict):
    self.index = index
    self.result = result
    self.hasher = ngrams.Hasher()
    self._item_words: Dict[int, Tuple[list, list]] = {}

  def add_batch(self, task: str, first_example: int, examples: Sequence[Tuple[str, str]]) -> int:
    """Scans examples (inputs, targets) numbered from first_example; returns how many overlap."""
    counts = self.result["tasks"][task]
    counts["examples"] += len(examples)
    texts = [f"{inputs}\n{targets}" for inputs, targets in examples]
    overlapping = 0
    for position in ngrams.overlapping_texts(self.hasher, texts, self.index.gram_sets):
      inputs, targets = examples[position]
      if self._record_example(task, first_example + int(position), inputs, targets):
        overlapping += 1
    counts["overlapping"] += overlapping
    return overlapping

  def _record_example(self, task: str, example_index: int, inputs: str, targets: str) -> bool:
    in_words, in_spans = ngrams.token_spans(inputs)
    tg_words, tg_spans = ngrams.token_spans(targets)
    words = in_words + tg_words
    windows = ngrams.matched_windows(self.hasher, words, self.index.lengths(), self.index.contains)
    by_item: Dict[int, List[Tuple[int, int, int]]] = {}
    for length in sorted({w[1] for w in windows}):
      of_length = [w for w in windows if w[1] == length]
      for window, items in zip(of_length, self.index.items_of(length, [w[2] for w in of_length])):
        for item in items:
          by_item.setdefault(item, []).append(window)
    for item_position, item_windows in by_item.items():
      item = self.index.items[item_position]
      per_task = self.result["hits"].setdefault(item.id, {})
      per_task[task] = per_task.get(task, 0) + 1
      self.result["items"][item.id] = [item.benchmark, item.subset]
      samples = self.result["samples"].setdefault(item.id, {})
      if task not in samples:
        covered = {p for start, length, _ in item_windows for p in range(start, start + length)}
        samples[task] = {
            "example_index": example_index,
            "inputs": ngrams.marked_text(inputs, in_spans, [p for p in covered if p < len(in_words)],
                                         MARK_LEFT, MARK_RIGHT),
            "targets": ngrams.marked_text(targets, tg_spans, [p - len(in_words) for p in covered
                                                              if p >= len(in_words)], MARK_LEFT, MARK_RIGHT),
            "item": self._marked_item(item_position, {(length, h) for _, length, h in item_windows})}
    return bool(by_item)

  def _marked_item(self, item_position: int, grams) -> str:
    if item_position not in self._item_words:
      self._item_words[item_position] = ngrams.token_spans(self.index.items[item_position].text)
    words, spans = self._item_words[item_position]
    wanted = {}
    for length, gram_hash in grams:
      wanted.setdefault(length, set()).add(gram_hash)

    def contains(length, hashes):
      return np.isin(hashes, np.array(sorted(wanted.get(length, ())), np.uint64))

    covered = {p for start, length, _ in ngrams.matched_windows(self.hasher, words, wanted, contains)
               for p in range(start, start + length)}
    return ngrams.marked_text(self.index.items[item_position].text, spans, covered, MARK_LEFT, MARK_RIGHT)
