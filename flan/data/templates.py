"""Instruction templates: their data structures and safe rendering.

A template is text with `{field}` placeholders. Only the template text is parsed; the values put in
are inserted verbatim, so a "{" or "}" inside the data is just text and never a format directive.
A literal brace in a template is written `{{` or `}}`.
"""
import dataclasses
import functools
import re
from typing import Mapping, Sequence

_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}")


@dataclasses.dataclass(frozen=True)
class Template:
  """One zero-shot (inputs, targets) format pair."""
  inputs: str
  targets: str = "{answer}"


@dataclasses.dataclass(frozen=True)
class FewShotPattern:
  """How exemplars and the query are laid out in a few-shot prompt.

  Each exemplar becomes input_prefix + inputs + delimiter + target_prefix + targets; exemplars and the
  query are joined by example_separator; the query ends with its target prefix and the final suffix.
  """
  input_prefix: str = ""
  target_prefix: str = ""
  delimiter: str = "\n"
  example_separator: str = "\n\n"
  final_suffix: str = ""


@dataclasses.dataclass(frozen=True)
class TemplateFamily:
  """Templates shared by datasets of one kind (e.g. natural language inference).

  fields: the canonical field names the templates use (besides `options` and `answer`).
  has_options: the data provides a list of answer options (variants with and without them).
  inverted: templates that ask for an input field given the answer (input inversion).
  cot_targets: rationale-then-answer target formats; non-empty means the family supports CoT variants.
  cot_cues: instructions appended to the inputs of zero-shot CoT prompts.
  """
  name: str
  fields: tuple[str, ...]
  templates: tuple[Template, ...]
  has_options: bool = False
  inverted: tuple[Template, ...] = ()
  cot_targets: tuple[str, ...] = ()
  cot_cues: tuple[str, ...] = ()

  def __post_init__(self):
    if not self.templates:
      raise ValueError(f"template family {self.name!r} has no templates")
    known = set(self.fields) | {"answer", "options", "rationale"}
    for template in self.templates + self.inverted:
      for text in (template.inputs, template.targets):
        missing = placeholders(text) - known
        if missing:
          raise ValueError(f"template family {self.name!r}: template {text!r} uses unknown fields "
                           f"{sorted(missing)}; the family's fields are {sorted(known)}")


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> tuple[tuple[str, str | None], ...]:
  """Splits template text into (literal, field-or-None) pieces."""
  pieces = []
  position = 0
  literal = []
  for match in _TOKEN.finditer(text):
    literal.append(text[position:match.start()])
    position = match.end()
    token = match.group(0)
    if token in ("{{", "}}"):
      literal.append(token[0])
    else:
      pieces.append(("".join(literal), match.group(1)))
      literal = []
  literal.append(text[position:])
  pieces.append(("".join(literal), None))
  return tuple(pieces)


def placeholders(text: str) -> set[str]:
  return {field for _, field in _compile(text) if field is not None}


def render(text: str, values: Mapping[str, str]) -> str:
  """Fills `{field}` placeholders of a template with values, inserted literally."""
  out = []
  for literal, field in _compile(text):
    out.append(literal)
    if field is not None:
      if field not in values:
        raise KeyError(f"template {text!r} needs field {field!r}; the example has {sorted(values)}")
      out.append(values[field])
  return "".join(out)


# Few-shot layouts in our own wording; prompts rotate through them.
FEW_SHOT_PATTERNS: Sequence[FewShotPattern] = (
    FewShotPattern("", "", "\n", "\n\n"),
    FewShotPattern("Q: ", "A: ", "\n", "\n\n"),
    FewShotPattern("Input: ", "Output: ", "\n", "\n\n"),
    FewShotPattern("Problem:\n", "Solution:\n", "\n", "\n\n\n"),
    FewShotPattern("", "Answer: ", "\n", "\n---\n"),
    FewShotPattern("Task: ", "Response: ", "\n", "\n\n", ""),
)
