"""Procedurally generated demo tasks and the "flan_demo" mixture: no download, deterministic.

Small answer spaces (digits, yes/no, true/false, three-letter words), so a tiny T5 learns them in
minutes on a CPU. Training uses the tasks in flan_demo; HELDOUT_TASKS render the validation split
with template wordings never seen in training, for the demo's held-out accuracy.
"""
import random
from typing import Callable

from flan.data import rates
from flan.data import registration
from flan.data import rendering
from flan.data import demo_vocab
from flan.data import sources
from flan.data import variants as variants_lib
from flan.data.template_families import cot as cot_families
from flan.data.template_families import demo as demo_families

SPLIT_SIZES = {"train": 5000, "validation": 200}
MIXTURE = "flan_demo"
CAP = 3000
_WORDS = ("cat", "dog", "sun", "map", "pen", "cup", "box", "hat", "red", "top", "bus", "jam", "net", "owl",
          "pig", "rug", "sky", "toy", "van", "web", "fox", "log", "mud", "ink")


def _addition(rng):
  a, b = rng.randrange(10), rng.randrange(10)
  return {"a": str(a), "b": str(b), "answer": str(a + b)}


def _subtraction(rng):
  a = rng.randrange(10)
  b = rng.randrange(a + 1)
  return {"a": str(a), "b": str(b), "answer": str(a - b)}


def _comparison(rng):
  a, b = rng.sample(range(20), 2)
  return {"a": str(a), "b": str(b), "answer": "yes" if a > b else "no", "options": ["yes", "no"]}


def _larger(rng):
  a, b = rng.sample(range(20), 2)
  return {"a": str(a), "b": str(b), "answer": str(max(a, b)), "options": [str(a), str(b)]}


def _sorting(rng):
  items = rng.sample(range(10), 3)
  return {"items": " ".join(map(str, items)), "answer": " ".join(map(str, sorted(items)))}


def _reversal(rng):
  word = rng.choice(_WORDS)
  return {"word": word, "answer": word[::-1]}


def _first_letter(rng):
  word = rng.choice(_WORDS)
  return {"word": word, "answer": word[0]}


def _logic(rng):
  x, y = rng.choice(("true", "false")), rng.choice(("true", "false"))
  op = rng.choice(("and", "or"))
  value = (x == "true" and y == "true") if op == "and" else (x == "true" or y == "true")
  negate = rng.random() < 0.3
  expression = f"{x} {op} {y}"
  if negate:
    expression, value = f"not ({expression})", not value
  return {"expression": expression, "answer": "true" if value else "false", "options": ["true", "false"]}


def _sum_of_three(rng):
  a, b, c = (rng.randrange(10) for _ in range(3))
  return {"question": f"What is {a} + {b} + {c}?", "answer": str(a + b + c),
          "rationale": f"{a} + {b} = {a + b}. {a + b} + {c} = {a + b + c}."}


# name -> (generator, template family, variants)
DATASETS: dict[str, tuple[Callable[[random.Random], dict], object, tuple[str, ...]]] = {
    "demo_add": (_addition, demo_families.ADDITION, ("zs", "inverted")),
    "demo_subtract": (_subtraction, demo_families.SUBTRACTION, ("zs",)),
    "demo_compare": (_comparison, demo_families.COMPARISON, ("zs_opt", "zs_noopt")),
    "demo_larger": (_larger, demo_families.LARGER, ("zs_opt",)),
    "demo_sort": (_sorting, demo_families.SORTING, ("zs",)),
    "demo_reverse": (_reversal, demo_families.REVERSAL, ("zs", "inverted")),
    "demo_first_letter": (_first_letter, demo_families.FIRST_LETTER, ("zs",)),
    "demo_logic": (_logic, demo_families.LOGIC, ("zs_opt", "zs_noopt")),
    "demo_sum3": (_sum_of_three, cot_families.COT, ("zs", "cot")),
}
HELDOUT_DATASETS = {
    "demo_add_heldout": (_addition, demo_families.ADDITION_HELDOUT, ("zs",)),
    "demo_compare_heldout": (_comparison, demo_families.COMPARISON_HELDOUT, ("zs_opt",)),
    "demo_logic_heldout": (_logic, demo_families.LOGIC_HELDOUT, ("zs_opt",)),
}
# Registered held-out evaluation tasks (use split "validation").
HELDOUT_TASKS = tuple(f"{name}:{suffix}" for name, (_, _, suffixes) in HELDOUT_DATASETS.items()
                      for suffix in suffixes)


def generate_rows(generator: Callable[[random.Random], dict], name: str, split: str) -> list[dict]:
  """The examples of one demo dataset split; the same on every run and machine."""
  generator_name = name.removesuffix("_heldout")
  rng = random.Random(f"flan-demo/{generator_name}/{split}")
  return [generator(rng) for _ in range(SPLIT_SIZES[split])]


def _spec(name, generator, family, suffixes):
  source = sources.InMemorySource(name, lambda split: generate_rows(generator, name, split), tuple(SPLIT_SIZES))
  return registration.DatasetSpec(name=name, source=source, family=family, variants=suffixes)


def register() -> list[str]:
  """Registers the demo tasks, the held-out tasks and the flan_demo mixture; returns the task names."""
  entries = []
  for name, (generator, family, suffixes) in DATASETS.items():
    task_names = registration.register_dataset(_spec(name, generator, family, suffixes),
                                               randomize_options=False, vocabulary=VOCABULARY)
    entries += rates.dataset_rates(task_names, cap=CAP)
  heldout = []
  for name, (generator, family, suffixes) in HELDOUT_DATASETS.items():
    heldout += registration.register_dataset(_spec(name, generator, family, suffixes),
                                             randomize_options=False, vocabulary=VOCABULARY)
  rates.register_mixture(MIXTURE, entries)
  return [task for task, _ in entries] + heldout


def corpus_lines(examples_per_task: int = 200) -> list[str]:
  """Rendered demo text for training the demo SentencePiece model (see flan.data.vocab)."""
  from flan.data import options as options_lib  # pylint: disable=import-outside-toplevel
  from flan.data import templates  # pylint: disable=import-outside-toplevel
  lines = []
  for name, (generator, family, _) in {**DATASETS, **HELDOUT_DATASETS}.items():
    rows = generate_rows(generator, name, "train")[:examples_per_task]
    for variant in variants_lib.variants_for(family):
      if variant.few_shot:
        continue
      renderer = rendering.Renderer(family, variant, randomize_options=False)
      for index, row in enumerate(rows):
        fields = {k: v for k, v in row.items() if k != "options"}
        inputs, targets = renderer.render(index, rendering.Example(fields, tuple(row.get("options", ()))))
        lines += [inputs, targets]
  for style in options_lib.STYLES:
    lines.append(style.header.strip())
  for pattern in templates.FEW_SHOT_PATTERNS:
    lines.append(f"{pattern.input_prefix}{pattern.target_prefix}".strip())
  lines += list(_WORDS) + [str(n) for n in range(100)]
  return [line for line in lines if line]


# The demo tasks' own vocabulary (configured one first, else trained on corpus_lines()).
VOCABULARY = demo_vocab.DemoVocabulary(corpus_lines)
register()
