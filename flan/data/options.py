"""Answer-option blocks: a fixed style and randomized ones; labelled styles make the target the label."""
import dataclasses
import random
import string
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class OptionsStyle:
  """How a list of answer options is written after the question.

  item: format of one option with `{option}` and, for labelled styles, `{label}`.
  labels: None, "letters" (A, B, ...) or "numbers" (1, 2, ...); with labels the target becomes
    label_target filled with the correct option's label.
  """
  name: str
  header: str
  item: str
  joiner: str
  labels: str | None = None
  label_target: str = "{label}"

  def label(self, index: int) -> str:
    if self.labels == "letters":
      if index >= len(string.ascii_uppercase):
        raise ValueError(f"options style {self.name!r} supports at most 26 options, got {index + 1}")
      return string.ascii_uppercase[index]
    return str(index + 1)


FIXED_STYLE = OptionsStyle("fixed", "\n\nPossible answers:\n", "- {option}", "\n")

STYLES: Sequence[OptionsStyle] = (
    FIXED_STYLE,
    OptionsStyle("stars", "\n\nChoose one:\n", "* {option}", "\n"),
    OptionsStyle("inline", "\nPick from: ", "{option}", " | "),
    OptionsStyle("letters", "\n\nAnswer choices:\n", "({label}) {option}", "\n", "letters", "({label})"),
    OptionsStyle("letters_inline", "\nSelect: ", "{label}) {option}", "  ", "letters", "{label}"),
    OptionsStyle("numbers", "\n\nReply with the number of the right option.\n", "{label}. {option}",
                 "\n", "numbers", "{label}"),
)


def render_options(style: OptionsStyle, options: Sequence[str], answer: str) -> tuple[str, str]:
  """Returns (options block, target answer). Options are data: inserted verbatim."""
  if style.labels is not None and (answer not in options or len(options) > len(string.ascii_uppercase)):
    style = FIXED_STYLE  # an answer outside the options cannot be labelled
  items = []
  for index, option in enumerate(options):
    label = style.label(index) if style.labels else ""
    items.append(style.item.replace("{label}", label).split("{option}"))
  block = style.header + style.joiner.join(option.join(parts) for parts, option in zip(items, options))
  if style.labels is None:
    return block, answer
  return block, style.label_target.replace("{label}", style.label(list(options).index(answer)))


def pick_style(rng: random.Random, randomized: bool) -> OptionsStyle:
  return rng.choice(STYLES) if randomized else FIXED_STYLE
