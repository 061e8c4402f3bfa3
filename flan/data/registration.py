"""One call that turns a dataset description into seqio tasks for every prompt variant.

  register_dataset(DatasetSpec(name="glue_cola", source=tfds_source("glue/cola:2.0.0"),
                               family="acceptability", field_map=...))
  -> ["glue_cola:zs_opt", "glue_cola:zs_noopt", "glue_cola:fs_opt", "glue_cola:fs_noopt"]

Pipeline of each task: source -> filter -> field map (raw example -> canonical string fields of the
template family, plus `answer` and, for families with options, `options`) -> render (Python, see
flan.data.rendering) -> tokenize -> append EOS. Tasks do not truncate: over-length examples reach the
feature converter / packer whole, so they can be counted there, then truncated or dropped.
"""
import dataclasses
import functools
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import seqio
import tensorflow as tf

from flan.data import decontaminate
from flan.data import exemplars
from flan.data import rendering
from flan.data import sources
from flan.data import template_families
from flan.data import templates
from flan.data import variants as variants_lib
from flan.data import vocab

EXEMPLAR_POOL_SIZE = 256
EXEMPLARS_PER_GROUP = 10
EXEMPLAR_SCAN_LIMIT = 1_000_000
# Ungrouped exemplars are a sample of the first EXEMPLAR_SAMPLE_SCAN examples of a file-shuffled (seeded)
# read of the split: bounded, so that starting a mixture of many few-shot datasets stays quick.
EXEMPLAR_SAMPLE_SCAN = 20_000

FieldMap = Callable[[Mapping[str, tf.Tensor]], Mapping[str, tf.Tensor]]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What a dataset is and how to prompt with it.

  field_map: TF function from a raw example to the family's fields, `answer`, and (families with
    options) `options`, a 1-D string tensor; None when the source already yields those fields.
  filter_fn: TF predicate on raw examples (e.g. drop unlabelled test rows).
  transform: dataset -> dataset after filtering, before the field map (e.g. per-subtask caps).
  variants: suffixes to register (default: all the family supports, see flan.data.variants).
  exemplar_group_field: few-shot exemplars must share this field's value with the query (e.g. the NIv2
    task name); the pool then holds up to EXEMPLARS_PER_GROUP train examples of every group.
  """
  name: str
  source: seqio.DataSource
  family: str | templates.TemplateFamily
  field_map: FieldMap | None = None
  filter_fn: Callable[[Mapping[str, tf.Tensor]], tf.Tensor] | None = None
  transform: Callable[[tf.data.Dataset], tf.data.Dataset] | None = None
  postprocess_fn: Callable[..., Any] | None = None
  metric_fns: Sequence[Callable[..., Any]] = ()
  variants: Sequence[str] | None = None
  train_split: str = "train"
  exemplar_group_field: str | None = None


# Registered datasets: name -> (spec, task names).
DATASETS: dict[str, tuple[DatasetSpec, list[str]]] = {}


def _required_fields(spec: DatasetSpec, family: templates.TemplateFamily) -> list[str]:
  required = list(family.fields) + ["answer"]
  if family.has_options:
    required.append("options")
  if family.cot_targets:
    required.append("rationale")
  if spec.exemplar_group_field is not None and spec.exemplar_group_field not in required:
    required.append(spec.exemplar_group_field)
  return required


def canonical_dataset(spec: DatasetSpec, dataset: tf.data.Dataset) -> tf.data.Dataset:
  """Raw examples -> dict of scalar strings (options joined with sources.OPTION_SEPARATOR).

  Examples whose answer is empty (unlabelled rows) are dropped.
  """
  family = template_families.get_family(spec.family)
  if spec.filter_fn is not None:
    dataset = dataset.filter(spec.filter_fn)
  if spec.transform is not None:
    dataset = spec.transform(dataset)
  if spec.field_map is not None:
    dataset = dataset.map(spec.field_map)
  available = set(dataset.element_spec)
  required = _required_fields(spec, family)
  missing = [f for f in required if f not in available]
  if missing:
    raise ValueError(f"task {spec.name!r}: field {missing[0]!r} is missing (template family "
                     f"{family.name!r} and the dataset need {required}; the examples have {sorted(available)})")

  def to_strings(example):
    out = {}
    for key, value in example.items():
      if key == "options" and value.shape.rank == 1:
        value = tf.strings.reduce_join(value, separator=sources.OPTION_SEPARATOR)
      if value.dtype != tf.string:
        value = tf.strings.as_string(value)
      if value.shape.rank != 0:
        raise ValueError(f"task {spec.name!r}: field {key!r} must be a scalar string, got shape {value.shape}")
      out[key] = value
    return out

  dataset = dataset.map(to_strings)
  return dataset.filter(lambda ex: tf.strings.length(ex["answer"]) > 0)  # unlabelled examples


def _example_from_strings(keys: Sequence[str], values: Sequence[bytes]) -> rendering.Example:
  fields = {}
  options = ()
  for key, value in zip(keys, values):
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    if key == "options":
      options = tuple(text.split(sources.OPTION_SEPARATOR)) if text else ()
    else:
      fields[key] = text
  return rendering.Example(fields, options)


def _split_size(spec: DatasetSpec) -> int | None:
  """Examples in the train split from the source's metadata, or None when it does not know."""
  try:
    count = spec.source.num_input_examples(spec.train_split)
  except Exception:  # pylint: disable=broad-except  (sources without metadata raise many kinds)
    return None
  return None if count is None else int(count)


def load_exemplar_pool(spec: DatasetSpec, size: int = EXEMPLAR_POOL_SIZE, *,
                       per_group: int = EXEMPLARS_PER_GROUP, scan_limit: int | None = None,
                       seed: int = 0) -> list[rendering.Example]:
  """Train examples for few-shot prompts.

  Without an exemplar group field: a seeded uniform sample of `size` examples among the first
  `scan_limit` (default EXEMPLAR_SAMPLE_SCAN) examples of a seeded shuffled read of the split (TFDS
  shuffles its files; positions are drawn from the split size when the source knows it, else a
  reservoir over the stream). With one: the first `per_group` examples of every group among the
  first `scan_limit` (default EXEMPLAR_SCAN_LIMIT) examples of the unshuffled split.
  """
  if spec.exemplar_group_field is None:
    scan_limit = scan_limit or EXEMPLAR_SAMPLE_SCAN
    raw = spec.source.get_dataset(spec.train_split, shuffle=True, seed=seed)
    population = _split_size(spec)
    examples = []
    if population:
      positions = exemplars.sample_positions(min(population, scan_limit), size, seed)
      examples = list(canonical_dataset(spec, exemplars.take_positions(raw, positions)).as_numpy_iterator())
    if not examples:  # no split size, or a stream shorter than its metadata says
      examples = exemplars.reservoir(canonical_dataset(spec, raw.take(scan_limit)).as_numpy_iterator(), size, seed)
  else:
    raw = spec.source.get_dataset(spec.train_split, shuffle=False)
    dataset = exemplars.first_per_group(canonical_dataset(spec, raw), spec.exemplar_group_field, per_group,
                                        scan_limit or EXEMPLAR_SCAN_LIMIT)
    examples = list(dataset.as_numpy_iterator())
  pool = []
  for example in examples:
    keys = sorted(example)
    pool.append(_example_from_strings(keys, [example[k] for k in keys]))
  if not pool:
    raise ValueError(f"task {spec.name!r}: the {spec.train_split!r} split has no examples for few-shot exemplars")
  return pool


RENDER_BATCH = 64


def render_dataset(dataset: tf.data.Dataset, renderer: rendering.Renderer) -> tf.data.Dataset:
  """Canonical examples -> {"inputs", "targets"} text, rendered in Python by `renderer`.

  Examples go to Python in small batches (one call per RENDER_BATCH examples) to keep the per-call
  overhead of tf.numpy_function low; order and results are the same as one by one. Maps run
  sequentially: a mixture runs many task pipelines side by side, and parallel maps in each of them
  only fight over the GIL and the cores. Examples the renderer declines (few-shot prompts without
  an exemplar) are dropped.
  """
  keys = sorted(dataset.element_spec)

  def render_numpy(indices, *columns):
    inputs, targets, made = [], [], []
    for row, index in enumerate(indices):
      rendered = renderer.render(int(index), _example_from_strings(keys, [c[row] for c in columns]))
      made.append(rendered is not None)
      rendered = rendered or ("", "")
      inputs.append(rendered[0].encode("utf-8"))
      targets.append(rendered[1].encode("utf-8"))
    return np.array(inputs, dtype=object), np.array(targets, dtype=object), np.array(made, dtype=bool)

  def render(indices, examples):
    inputs, targets, made = tf.numpy_function(render_numpy, [indices] + [examples[k] for k in keys],
                                              [tf.string, tf.string, tf.bool], stateful=False)
    inputs.set_shape([None])
    targets.set_shape([None])
    made.set_shape([None])
    return {"inputs": inputs, "targets": targets, "made": made}

  dataset = dataset.enumerate().batch(RENDER_BATCH)
  dataset = dataset.map(render).unbatch()
  return dataset.filter(_was_made).map(_text_features)


@tf.autograph.experimental.do_not_convert
def _was_made(example):
  return example["made"]


@tf.autograph.experimental.do_not_convert
def _text_features(example):
  return {"inputs": example["inputs"], "targets": example["targets"]}


def _shuffle_buffer_size(source: seqio.DataSource) -> int | None:
  """No task-level shuffle buffer for sources that shuffle whole splits themselves."""
  return None if source.performs_internal_shuffling else seqio.SHUFFLE_BUFFER_SIZE


def _count_tokens_fn(vocabulary: seqio.Vocabulary):
  return lambda text: len(vocabulary.encode(text))


def _render_preprocessor(dataset, *, spec, renderer):
  if renderer.variant.few_shot:
    renderer.pool()  # read the exemplars now, not inside the tf.data pipeline
  return render_dataset(canonical_dataset(spec, dataset), renderer)


def register_dataset(spec: DatasetSpec, *, vocabulary: seqio.Vocabulary | None = None, seed: int = 0,
                     few_shot_budget: int = rendering.DEFAULT_FEW_SHOT_BUDGET,
                     max_exemplars: int = rendering.DEFAULT_MAX_EXEMPLARS,
                     randomize_options: bool = True) -> list[str]:
  """Registers `NAME:<variant>` seqio tasks for every variant; returns their names.

  Registering again under the same name replaces the earlier tasks. Nothing is read or downloaded
  here: sources, exemplar pools and the vocabulary are all used lazily.
  """
  family = template_families.get_family(spec.family)
  supported = variants_lib.variants_for(family)
  if spec.variants is None:
    chosen = variants_lib.default_variants(family)
  else:
    by_suffix = {v.suffix: v for v in supported}
    unknown = [s for s in spec.variants if s not in by_suffix]
    if unknown:
      raise ValueError(f"dataset {spec.name!r}: variant {unknown[0]!r} is not supported by template family "
                       f"{family.name!r}; it supports {sorted(by_suffix)}")
    chosen = tuple(by_suffix[s] for s in spec.variants)
  vocabulary = vocabulary or vocab.get_vocabulary()
  unregister_dataset(spec.name)
  pool = functools.lru_cache(maxsize=1)(lambda: load_exemplar_pool(spec, seed=seed))
  names = []
  for variant in chosen:
    renderer = rendering.Renderer(
        family, variant, seed=seed, exemplar_pool=pool, count_tokens=_count_tokens_fn(vocabulary),
        budget=few_shot_budget, max_exemplars=max_exemplars, randomize_options=randomize_options,
        exemplar_group_field=spec.exemplar_group_field)
    name = variants_lib.task_name(spec.name, variant)
    seqio.TaskRegistry.add(
        name,
        source=spec.source,
        preprocessors=[
            functools.partial(_render_preprocessor, spec=spec, renderer=renderer),
            functools.partial(decontaminate.filter_overlapping, dataset_name=spec.name),  # opt-in by gin
            seqio.preprocessors.tokenize,
            seqio.preprocessors.append_eos,
        ],
        output_features=vocab.output_features(vocabulary),
        postprocess_fn=spec.postprocess_fn,
        metric_fns=list(spec.metric_fns),
        shuffle_buffer_size=_shuffle_buffer_size(spec.source),
    )
    names.append(name)
  DATASETS[spec.name] = (spec, names)
  return names


def _raw_preprocessor(dataset, *, name, inputs_field, targets_field):
  available = set(dataset.element_spec)
  for field in (inputs_field, targets_field):
    if field not in available:
      raise ValueError(f"task {name!r}: field {field!r} is missing; the examples have {sorted(available)}")
  return dataset.map(lambda ex: {"inputs": ex[inputs_field], "targets": ex[targets_field]})


def register_raw_task(name: str, source: seqio.DataSource, *, inputs_field: str = "inputs",
                      targets_field: str = "targets", vocabulary: seqio.Vocabulary | None = None,
                      postprocess_fn=None, metric_fns=()) -> str:
  """A task whose examples already are (inputs, targets) text: no templates."""
  vocabulary = vocabulary or vocab.get_vocabulary()
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)
  seqio.TaskRegistry.add(
      name, source=source,
      preprocessors=[
          functools.partial(_raw_preprocessor, name=name, inputs_field=inputs_field, targets_field=targets_field),
          functools.partial(decontaminate.filter_overlapping, dataset_name=name),  # opt-in by gin
          seqio.preprocessors.tokenize,
          seqio.preprocessors.append_eos,
      ],
      output_features=vocab.output_features(vocabulary), postprocess_fn=postprocess_fn,
      metric_fns=list(metric_fns), shuffle_buffer_size=_shuffle_buffer_size(source))
  return name


def unregister_dataset(name: str) -> None:
  if name in DATASETS:
    for task in DATASETS.pop(name)[1]:
      if task in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(task)


def dataset_tasks(name: str) -> list[str]:
  """Task names registered for a dataset."""
  if name not in DATASETS:
    from flan.data import names as names_lib  # pylint: disable=import-outside-toplevel
    raise ValueError(names_lib.unknown_name_message("dataset", name, DATASETS))
  return list(DATASETS[name][1])
