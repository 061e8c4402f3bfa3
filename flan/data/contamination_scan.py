"""Streaming scan of a training task or mixture against a contamination index; shards and their merge.

The scan reads each task of the mixture on its own (unshuffled, one epoch, every variant is its own task),
as rendered text, in batches: nothing is held beyond one batch. The text is taken just before the task's
tokenize step (what the tokenizer would receive, i.e. `inputs_pretokenized` / `targets_pretokenized`),
which spares the tokenizing; a task without a recognizable tokenize step runs its whole pipeline. `shard i/k` scans every k-th task starting at the i-th (tasks sorted by name), so k processes share
the work; `merge` of the k results equals one unsharded run.
"""
import copy
import json
import pathlib
import sys
from typing import Iterator, List, Optional, Sequence, Tuple

from flan.data import contamination_match as match
from flan.errors import ConfigError, InputError, UserError

READ_BATCH = 256


def parse_shard(text: str) -> Tuple[int, int]:
  """"i/k" -> (i, k) with 0 <= i < k."""
  try:
    index, count = (int(part) for part in text.split("/"))
  except ValueError:
    raise ConfigError(f"--shard must be i/k such as 0/4 (shards 0 to k-1 of k), got {text!r}") from None
  if count < 1 or not 0 <= index < count:
    raise ConfigError(f"--shard {text}: need 0 <= i < k")
  return index, count


def task_names(name: str) -> List[str]:
  """The tasks of a registered mixture (sub-mixtures resolved), or [name] for a task; sorted."""
  import seqio  # pylint: disable=import-outside-toplevel
  from flan.data import examples  # pylint: disable=import-outside-toplevel
  try:
    provider = examples.get_provider(name)
  except ValueError as error:
    raise ConfigError(str(error)) from error
  if isinstance(provider, seqio.Mixture):
    return sorted(task.name for task in provider.tasks)
  return [provider.name]


def shard_tasks(tasks: Sequence[str], shard: Tuple[int, int]) -> List[str]:
  index, count = shard
  return list(sorted(tasks)[index::count])


def _decode(vocabulary, tokens) -> str:
  return vocabulary.decode([int(t) for t in tokens])


def _text_dataset(task, split: str):
  """The task's examples just before its tokenize step (the rendered text, without paying for
  tokenization), or None when it has no recognizable tokenize step or no text there."""
  import seqio  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  tokenizers = (seqio.preprocessors.tokenize, seqio.preprocessors.tokenize_and_append_eos)
  steps = list(task.preprocessors)
  position = next((i for i, step in enumerate(steps) if getattr(step, "func", step) in tokenizers), None)
  if position is None:
    return None
  dataset = task.source.get_dataset(split=split, shuffle=False)
  for step in steps[:position]:
    if isinstance(step, seqio.CacheDatasetPlaceholder):
      continue
    dataset = seqio.utils.add_kwargs_to_transform(step, sequence_length=None,
                                                  output_features=task.output_features)(dataset)
  spec = dataset.element_spec
  if not all(k in spec and spec[k].dtype == tf.string and spec[k].shape.rank == 0 for k in ("inputs", "targets")):
    return None
  return dataset.map(lambda ex: {"inputs_pretokenized": ex["inputs"], "targets_pretokenized": ex["targets"]})


def read_texts(task_name: str, split: str, max_examples: Optional[int],
               batch_size: int = READ_BATCH) -> Iterator[List[Tuple[str, str]]]:
  """Batches of (inputs, targets) rendered text of one task, in stream order, unshuffled, one epoch."""
  import seqio  # pylint: disable=import-outside-toplevel
  task = seqio.TaskRegistry.get(task_name)
  if split not in task.splits:
    raise ConfigError(f"task {task_name!r} has no split {split!r} (it has {sorted(task.splits)}); choose --split")
  dataset = _text_dataset(task, split)
  if dataset is None:  # the task's whole pipeline, tokenizing included
    dataset = task.get_dataset(sequence_length=None, split=split, shuffle=False, num_epochs=1,
                               use_cached=False, trim_output_features=False, try_in_mem_cache=False)
  if max_examples is not None:
    dataset = dataset.take(max_examples)
  pretokenized = all(f"{k}_pretokenized" in dataset.element_spec for k in ("inputs", "targets"))
  if pretokenized:
    dataset = dataset.map(lambda ex: {"inputs": ex["inputs_pretokenized"], "targets": ex["targets_pretokenized"]})
    for batch in dataset.batch(batch_size).as_numpy_iterator():
      yield [(i.decode("utf-8", "replace"), t.decode("utf-8", "replace"))
             for i, t in zip(batch["inputs"], batch["targets"])]
    return
  # A task without the text features: decode its tokens with its own vocabularies (slow, rare).
  vocabularies = {k: task.output_features[k].vocabulary for k in ("inputs", "targets")}
  batch = []
  for example in dataset.as_numpy_iterator():
    batch.append((_decode(vocabularies["inputs"], example["inputs"]),
                  _decode(vocabularies["targets"], example["targets"])))
    if len(batch) == batch_size:
      yield batch
      batch = []
  if batch:
    yield batch


def scan(name: str, index, *, split: str = "train", max_examples: Optional[int] = None,
         shard: Tuple[int, int] = (0, 1), progress: bool = True, reader=read_texts) -> dict:
  """Scans this shard's tasks of `name`; returns the result dict (see contamination_match.empty_result)."""
  if max_examples is not None and max_examples < 1:
    raise ConfigError(f"--max_examples must be positive, got {max_examples}")
  tasks = shard_tasks(task_names(name), shard)
  result = match.empty_result(mixture=name, split=split, index=index, max_examples=max_examples,
                              shard=shard, tasks=tasks)
  matcher = match.Matcher(index, result)
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  for position, task in enumerate(tasks):
    bar = tqdm(total=max_examples, desc=f"[{position + 1}/{len(tasks)}] {task}", unit="ex", file=sys.stderr,
               disable=not progress, leave=False, dynamic_ncols=True)
    seen = 0
    try:
      for batch in reader(task, split, max_examples):
        hits = matcher.add_batch(task, seen, batch)
        seen += len(batch)
        bar.update(len(batch))
        if hits:
          bar.set_postfix(overlapping=result["tasks"][task]["overlapping"])
    except UserError:
      raise
    except ValueError as error:  # the data layer's errors (missing data folder, malformed file) name the cause
      raise InputError(f"reading task {task!r}: {error}") from error
    finally:
      bar.close()
    if progress:
      counts = result["tasks"][task]
      print(f"{task}: {counts['examples']} examples, {counts['overlapping']} overlapping", file=sys.stderr)
  return result


_MUST_AGREE = ("format", "mixture", "split", "n", "index", "benchmarks", "max_examples", "subset_sizes")


def merge(results: Sequence[dict], sources: Sequence[str] = ()) -> dict:
  """One result from the results of shards 0..k-1 of k (each exactly once); equals an unsharded scan."""
  sources = list(sources) or [f"result {i}" for i in range(len(results))]
  if not results:
    raise ConfigError("--merge needs at least one shard result file")
  first = results[0]
  for source, result in zip(sources, results):
    for key in _MUST_AGREE:
      if result.get(key) != first.get(key):
        raise InputError(f"{source}: {key} = {json.dumps(result.get(key))[:80]} differs from "
                         f"{sources[0]} ({json.dumps(first.get(key))[:80]}); results of one scan only")
  count = first["shard"][1]
  seen = {}
  for source, result in zip(sources, results):
    index, shard_count = result["shard"]
    if shard_count != count:
      raise InputError(f"{source}: shard {index}/{shard_count}, but {sources[0]} is one of {count} shards")
    if index in seen:
      raise InputError(f"{source}: shard {index}/{count} is also in {seen[index]}")
    seen[index] = source
  missing = sorted(set(range(count)) - set(seen))
  if missing:
    raise InputError(f"--merge: shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing")
  merged = copy.deepcopy(first)
  merged["shard"] = [0, 1]
  merged["tasks"], merged["hits"], merged["items"], merged["samples"] = {}, {}, {}, {}
  for source, result in zip(sources, results):
    for task, counts in result["tasks"].items():
      if task in merged["tasks"]:
        raise InputError(f"{source}: task {task!r} was scanned by two shards")
      merged["tasks"][task] = dict(counts)
    for item_id, per_task in result["hits"].items():
      merged["hits"].setdefault(item_id, {}).update(per_task)
      merged["items"][item_id] = result["items"][item_id]
      merged["samples"].setdefault(item_id, {}).update(result["samples"].get(item_id, {}))
  return canonical(merged)


def canonical(result: dict) -> dict:
  """The result with every mapping in sorted key order (so equal results serialize identically)."""
  out = dict(result)
  out["tasks"] = {k: result["tasks"][k] for k in sorted(result["tasks"])}
  out["hits"] = {k: dict(sorted(result["hits"][k].items())) for k in sorted(result["hits"])}
  out["items"] = {k: result["items"][k] for k in sorted(result["items"])}
  out["samples"] = {k: dict(sorted(result["samples"][k].items())) for k in sorted(result["samples"])}
  return out


def save_result(result: dict, path) -> None:
  path = pathlib.Path(path)
  partial = path.with_name(path.name + ".partial")
  partial.write_text(json.dumps(canonical(result), ensure_ascii=False) + "\n", encoding="utf-8")
  partial.replace(path)


def load_result(path) -> dict:
  path = pathlib.Path(path)
  if not path.is_file():
    raise InputError(f"shard result {path} does not exist")
  try:
    result = json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as error:
    raise InputError(f"{path}: not valid JSON ({error})") from error
  if not isinstance(result, dict) or result.get("format") != match.RESULT_FORMAT:
    raise InputError(f"{path}: not a contamination scan result (format {match.RESULT_FORMAT!r})")
  return result
