"""A user's own instruction data (JSONL / TSV / CSV) as seqio tasks, optionally joining a mixture.

Python:
  name = register_user_data("my_qa", {"train": "qa.jsonl"}, family="closed_qa",
                            fields={"question": "q", "answer": "a"}, mixture="flan_demo", fraction=0.2)
gin (an evaluated reference returns the name to train on):
  train.mixture_or_task_name = @my/flan.data.user_data.register_user_data()
  my/register_user_data.name = "my_qa"
  my/register_user_data.files = {"train": "/data/qa.jsonl"}
  ...
Without a template family, rows must already hold the prompt and answer (fields "inputs" and
"targets", or renamed with `fields`).

Every field's value must be text: a JSON string (a number is taken as its decimal text, so "answer": 4 is
"4"); null, true/false, lists and objects are errors naming file:line and field. Answer options may be a
list of texts or one text separated by `options_separator`.
"""
from typing import Mapping, Sequence

import gin

from flan.data import names as names_lib
from flan.data import rates
from flan.data import registration
from flan.data import sources
from flan.data import template_families
from flan.errors import ConfigError, InputError


def _json_kind(value) -> str:
  return {type(None): "null", bool: "true/false", list: "a list", dict: "an object"}.get(type(value),
                                                                                     type(value).__name__)


def _text(value, where: str) -> str:
  """A text field's value: a string as is, a number as its decimal text; anything else is an InputError."""
  if isinstance(value, str):
    return value
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return str(value)
  shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
  raise InputError(f"{where} must be text (a JSON string; numbers are taken as their decimal text), got "
                   f"{_json_kind(value)}: {shown}")


def _field_rows(task: str, path: str, file_format: str | None, fields: Mapping[str, str],
                options_separator: str) -> list[dict]:
  """Rows with our field names, every value text (options: a list of texts). A row without a mapped column,
  or with a value that is not text (null, true/false, a list or object; numbers become their decimal text),
  fails naming file, line, field and task."""
  out = []
  for row in sources.read_rows(path, file_format):
    mapped = {}
    line = row.get("__line__", "?")
    for field, column in fields.items():
      if column not in row:
        raise InputError(f"task {task!r}: field {field!r} (column {column!r}) is missing in "
                         f"{path}:{line}; the row has {sorted(k for k in row if k != '__line__')}")
      value = row[column]
      where = f"{path}:{line}: field {field!r} (column {column!r}) of task {task!r}"
      if field == "options":
        if isinstance(value, str):
          value = [o.strip() for o in value.split(options_separator)] if value else []
        elif isinstance(value, list):
          value = [_text(option, f"{where}, option {i + 1},") for i, option in enumerate(value)]
        else:
          raise InputError(f"{where} must be a list of texts or one text separated by {options_separator!r}, "
                           f"got {_json_kind(value)}")
      else:
        value = _text(value, where)
      mapped[field] = value
    out.append(mapped)
  return out


@gin.configurable
def register_user_data(name: str, files: Mapping[str, str] | str, *, family: str | None = None,
                       fields: Mapping[str, str] | None = None, file_format: str | None = None,
                       variants: Sequence[str] | None = None, options_separator: str = "|",
                       mixture: str | None = None, fraction: float | None = None,
                       cap: int | None = None) -> str:
  """Registers tasks for a user's data file(s); returns the name of what to train on.

  files: a path (the train split) or {split: path}.
  family: a template family name (see flan.data.template_families) or None for raw inputs/targets.
  fields: our field name -> the file's column (default: identity for the family's fields, answer,
    options when it has them; or inputs/targets when raw).
  mixture, fraction: join this existing mixture so that `fraction` of the examples are the user's;
    returns the new mixture "<mixture>_with_<name>". Without them, returns the user's task, or a mixture
    "<name>" of its variants (examples-proportional, capped at `cap`).
  """
  files = {"train": files} if isinstance(files, str) else dict(files)
  if family is None:
    fields = dict(fields or {"inputs": "inputs", "targets": "targets"})
    source = sources.InMemorySource(
        name, lambda split: _field_rows(name, files[split], file_format, fields, options_separator), tuple(files))
    missing = {"inputs", "targets"} - set(fields)
    if missing:
      raise ConfigError(f"task {name!r}: raw data needs fields inputs and targets; {sorted(missing)} not mapped")
    tasks = [registration.register_raw_task(name, source, inputs_field="inputs", targets_field="targets")]
  else:
    family_obj = template_families.get_family(family)
    default_fields = list(family_obj.fields) + ["answer"] + (["options"] if family_obj.has_options else [])
    if family_obj.cot_targets:
      default_fields.append("rationale")
    fields = dict(fields or {f: f for f in default_fields})
    source = sources.InMemorySource(
        name, lambda split: _field_rows(name, files[split], file_format, fields, options_separator), tuple(files))
    spec = registration.DatasetSpec(name=name, source=source, family=family_obj, variants=variants)
    tasks = registration.register_dataset(spec)
  if mixture is None:
    if len(tasks) == 1:
      return tasks[0]
    rates.register_mixture(name, rates.dataset_rates(tasks, cap))
    return name
  return join_mixture(mixture, tasks, fraction, name=f"{mixture}_with_{name}", cap=cap)


def join_mixture(mixture: str, tasks: Sequence[str], fraction: float | None, *, name: str,
                 cap: int | None = None) -> str:
  """Registers mixture `name`: `mixture` plus `tasks`, which make up `fraction` of its examples."""
  import seqio  # pylint: disable=import-outside-toplevel
  if mixture not in seqio.MixtureRegistry.names():
    raise ValueError(names_lib.unknown_name_message("mixture", mixture, seqio.MixtureRegistry.names()))
  if fraction is None or not 0.0 < fraction < 1.0:
    raise ValueError(f"joining mixture {mixture!r} needs a fraction strictly between 0 and 1, got {fraction!r}")
  own = f"{name}_user_tasks"
  rates.register_mixture(own, rates.dataset_rates(tasks, cap))
  rates.register_mixture(name, [(mixture, 1.0 - fraction), (own, fraction)])
  return name
