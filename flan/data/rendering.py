"""Turns one example's fields into (inputs, targets) text for a prompt variant.

Template choice rotates with the example index (index + seed modulo the number of templates), so
every template is used; other choices (options style, few-shot layout, exemplars) come from a
random generator seeded by (seed, index), so rendering is deterministic.
"""
import dataclasses
import random
from typing import Callable, Mapping, Sequence

from flan.data import options as options_lib
from flan.data import templates
from flan.data import variants

DEFAULT_FEW_SHOT_BUDGET = 1920
DEFAULT_MAX_EXEMPLARS = 5


@dataclasses.dataclass(frozen=True)
class Example:
  fields: Mapping[str, str]
  options: tuple[str, ...] = ()

  def key(self):
    return tuple(sorted(self.fields.items())), self.options


class Renderer:
  """Renders examples of one dataset in one variant.

  exemplar_pool: a callable returning train-split Examples (called once, lazily) for few-shot variants.
  count_tokens: text -> number of tokens, used to keep few-shot inputs within `budget` tokens.
  exemplar_group_field: if set, exemplars must share this field's value with the query (e.g. an NIv2
    task name), and every example must have the field.

  A few-shot prompt that gets no exemplar (its group has no other pool example, or none fits the
  budget) is not made: render() returns None and the example is dropped from the few-shot task, as
  the Flan Collection drops few-shot prompts without exemplars.
  """

  def __init__(self, family: templates.TemplateFamily, variant: variants.Variant, *, seed: int = 0,
               exemplar_pool: Callable[[], Sequence[Example]] | None = None,
               count_tokens: Callable[[str], int] | None = None,
               budget: int = DEFAULT_FEW_SHOT_BUDGET, max_exemplars: int = DEFAULT_MAX_EXEMPLARS,
               randomize_options: bool = True, exemplar_group_field: str | None = None):
    if variant.few_shot and (exemplar_pool is None or count_tokens is None):
      raise ValueError(f"few-shot variant {variant.suffix!r} needs an exemplar pool and a token counter")
    if variant.cot and not family.cot_targets:
      raise ValueError(f"template family {family.name!r} has no chain-of-thought targets")
    if variant.inverted and not family.inverted:
      raise ValueError(f"template family {family.name!r} has no inverted templates")
    self.family = family
    self.variant = variant
    self.seed = seed
    self.budget = budget
    self.max_exemplars = max_exemplars
    self.randomize_options = randomize_options
    self.exemplar_group_field = exemplar_group_field
    self._exemplar_pool_fn = exemplar_pool
    self._pool = None
    self._positions_by_group = None
    self._count_tokens = count_tokens
    self._token_counts = {}
    self.templates = family.inverted if variant.inverted else family.templates

  def pool(self) -> Sequence[Example]:
    if self._pool is None:
      self._pool = list(self._exemplar_pool_fn())
    return self._pool

  def _group(self, example: Example) -> str:
    if self.exemplar_group_field not in example.fields:
      raise ValueError(f"exemplar group field {self.exemplar_group_field!r} is missing from an example; "
                       f"it has {sorted(example.fields)}")
    return example.fields[self.exemplar_group_field]

  def _candidate_positions(self, query_example: Example) -> list[int]:
    """Pool positions that may serve as the query's exemplars (before excluding the query itself)."""
    pool = self.pool()
    if self.exemplar_group_field is None:
      return list(range(len(pool)))
    if self._positions_by_group is None:
      by_group = {}
      for position, example in enumerate(pool):
        by_group.setdefault(self._group(example), []).append(position)
      self._positions_by_group = by_group
    return list(self._positions_by_group.get(self._group(query_example), ()))

  def _single(self, example: Example, template: templates.Template, style, cot_index: int):
    """Zero-shot (inputs, targets) for one example with a fixed template and options style."""
    values = dict(example.fields)
    values["options"] = ""
    answer = values.get("answer", "")
    if self.variant.options and example.options:
      values["options"], answer = options_lib.render_options(style, example.options, answer)
    values["answer"] = answer
    inputs = templates.render(template.inputs, values)
    if self.variant.cot:
      target = templates.render(self.family.cot_targets[cot_index % len(self.family.cot_targets)], values)
    else:
      target = templates.render(template.targets, values)
    return inputs.strip(), target.strip()

  def render(self, index: int, example: Example) -> tuple[str, str] | None:
    rng = random.Random(self.seed * 1_000_003 + index)
    template_index = (index + self.seed) % len(self.templates)
    template = self.templates[template_index]
    style = options_lib.pick_style(rng, self.randomize_options)
    cot_index = rng.randrange(1 << 16)
    inputs, target = self._single(example, template, style, cot_index)
    if not self.variant.few_shot:
      if self.variant.cot and self.family.cot_cues:
        inputs += rng.choice(self.family.cot_cues)
      return inputs, target
    pattern = rng.choice(templates.FEW_SHOT_PATTERNS)
    query = pattern.input_prefix + inputs + pattern.delimiter + pattern.target_prefix.rstrip()
    query += pattern.final_suffix
    blocks = self._exemplar_blocks(rng, example, template, style, cot_index, pattern, template_index, query)
    if not blocks:
      return None
    return pattern.example_separator.join(blocks + [query]).strip(), target

  def _exemplar_blocks(self, rng, query_example, template, style, cot_index, pattern, template_index, query):
    pool = self.pool()
    wanted = rng.randint(1, self.max_exemplars)
    used = self._count_tokens(query)
    query_key = query_example.key()
    order = self._candidate_positions(query_example)
    rng.shuffle(order)
    blocks = []
    for position in order:
      if len(blocks) == wanted:
        break
      candidate = pool[position]
      if candidate.key() == query_key:
        continue  # never show the query as its own exemplar
      inputs, target = self._single(candidate, template, style, cot_index)
      block = pattern.input_prefix + inputs + pattern.delimiter + pattern.target_prefix + target
      cache_key = (position, template_index, style.name, pattern,
                   cot_index % max(1, len(self.family.cot_targets)))
      cost = self._token_counts.get(cache_key)
      if cost is None:
        cost = self._count_tokens(block + pattern.example_separator)
        self._token_counts[cache_key] = cost
      if used + cost > self.budget:
        continue
      used += cost
      blocks.append(block)
    return blocks
