"""Templates, answer options and prompt rendering (pure Python: no TensorFlow needed)."""
import re

import pytest

from flan.data import options as options_lib
from flan.data import rendering
from flan.data import template_families
from flan.data import templates
from flan.data import variants
from flan.data.rendering import Example, Renderer
from flan.data.templates import Template, TemplateFamily


def test_data_is_never_a_format_string():
  values = {"premise": "A {0} man {name} runs {{x}} %s {}", "hypothesis": "}{"}
  out = templates.render("P: {premise} H: {hypothesis} {{literal}}", values)
  assert out == "P: A {0} man {name} runs {{x}} %s {} H: }{ {literal}"


def test_render_missing_field_names_it():
  with pytest.raises(KeyError, match="'question'"):
    templates.render("Q: {question}", {"answer": "x"})


def test_family_rejects_unknown_placeholder():
  with pytest.raises(ValueError, match="unknown fields.*'qestion'"):
    TemplateFamily(name="bad", fields=("question",), templates=(Template("{qestion}"),))


def test_families_have_about_ten_distinct_templates():
  for name, family in template_families.FAMILIES.items():
    if name.startswith("demo_") or name == "prompted":  # prompted: P3's own prompt is the template
      continue
    inputs = [t.inputs for t in family.templates]
    assert len(inputs) >= 8, name
    assert len(set(inputs)) == len(inputs), name


def test_unknown_family_lists_closest():
  with pytest.raises(ValueError, match="closest registered names: nli"):
    template_families.get_family("nlii")


def test_options_styles():
  fixed, target = options_lib.render_options(options_lib.FIXED_STYLE, ["yes", "no"], "no")
  assert fixed == "\n\nPossible answers:\n- yes\n- no" and target == "no"
  letters = next(s for s in options_lib.STYLES if s.name == "letters")
  block, target = options_lib.render_options(letters, ["red {x}", "blue", "green"], "green")
  assert block.endswith("(A) red {x}\n(B) blue\n(C) green") and target == "(C)"
  numbers = next(s for s in options_lib.STYLES if s.name == "numbers")
  assert options_lib.render_options(numbers, ["a", "b"], "b")[1] == "2"
  # An answer outside the options cannot be labelled: fixed style, target stays the answer.
  assert options_lib.render_options(letters, ["a", "b"], "c") == ("\n\nPossible answers:\n- a\n- b", "c")


NLI_EXAMPLE = Example({"premise": "It rains {hard}.", "hypothesis": "It is wet.", "answer": "yes"},
                      ("yes", "no", "it is not possible to tell"))


def _count_words(text):
  return len(text.split())


def _renderer(family, suffix, pool=(), **kwargs):
  return Renderer(template_families.get_family(family), variants.BY_SUFFIX[suffix],
                  exemplar_pool=lambda: list(pool), count_tokens=_count_words, **kwargs)


def test_templates_rotate_so_each_is_used():
  family = template_families.get_family("nli")
  renderer = _renderer("nli", "zs_noopt")
  rendered = {renderer.render(i, NLI_EXAMPLE)[0] for i in range(len(family.templates))}
  assert len(rendered) == len(family.templates)
  expected = {templates.render(t.inputs, {**NLI_EXAMPLE.fields, "options": ""}).strip() for t in family.templates}
  assert rendered == expected


def test_rendering_is_deterministic_and_seeded():
  a = [_renderer("nli", "zs_opt").render(i, NLI_EXAMPLE) for i in range(20)]
  b = [_renderer("nli", "zs_opt").render(i, NLI_EXAMPLE) for i in range(20)]
  c = [_renderer("nli", "zs_opt", seed=7).render(i, NLI_EXAMPLE) for i in range(20)]
  assert a == b and a != c


def test_options_variants():
  with_options = [_renderer("nli", "zs_opt").render(i, NLI_EXAMPLE) for i in range(40)]
  without = [_renderer("nli", "zs_noopt").render(i, NLI_EXAMPLE) for i in range(40)]
  assert all("it is not possible to tell" in inputs for inputs, _ in with_options)
  assert not any("it is not possible to tell" in inputs for inputs, _ in without)
  assert all(target == "yes" for _, target in without)
  targets = {target for _, target in with_options}
  assert "yes" in targets and targets & {"(A)", "A", "1"}  # labelled styles turn the target into the label


def test_few_shot_never_shows_the_query_and_fits_the_budget():
  pool = [Example({"premise": f"P{i:02d}", "hypothesis": f"H{i:02d}", "answer": "no"}, ("yes", "no"))
          for i in range(12)]
  budget = 60
  renderer = _renderer("nli", "fs_noopt", pool, budget=budget, max_exemplars=5)
  for index, query in enumerate(pool):
    inputs, target = renderer.render(index, query)
    assert inputs.count(f"P{index:02d}") == 1, inputs  # only the query itself, never as an exemplar
    assert sum(inputs.count(f"P{i:02d}") for i in range(12)) >= 2  # at least one exemplar fits
    assert _count_words(inputs) <= budget
    assert target == "no"
  # Exemplars use the query's template: the query's template text appears once per block.
  inputs, _ = _renderer("nli", "fs_noopt", pool, budget=10_000).render(0, NLI_EXAMPLE)
  assert inputs.count("Does the premise entail the hypothesis?") >= 2


def _grouped_example(group, item):
  return Example({"definition": f"define {group}", "input": f"<{group}-{item}>", "answer": f"[{group}-{item}]",
                  "task_name": group})


def _shown_items(inputs):
  return set(re.findall(r"\[(\w+-\d+)\]", inputs))  # exemplar answers; the query shows no answer


GROUPED_POOL = ([_grouped_example("alpha", i) for i in range(6)] + [_grouped_example("beta", i) for i in range(4)]
                + [_grouped_example("gamma", 0)])


def test_few_shot_exemplars_come_from_the_query_group_and_never_the_query():
  renderer = _renderer("instructions", "fs", GROUPED_POOL, exemplar_group_field="task_name", budget=10_000)
  with_exemplars = 0
  for seed_index in range(5):
    for index, query in enumerate(GROUPED_POOL):
      rendered = renderer.render(seed_index * 100 + index, query)
      group, item = query.fields["task_name"], query.fields["input"][1:-1]
      if rendered is None:  # no exemplar: the lone gamma query is not made into a few-shot prompt
        assert group == "gamma"
        continue
      inputs, target = rendered
      shown = _shown_items(inputs)
      assert shown and all(s.startswith(group + "-") for s in shown), (group, inputs)
      assert item not in shown and inputs.count(f"<{item}>") == 1 and target == f"[{item}]"
      with_exemplars += 1
  assert with_exemplars == 5 * 10  # every alpha and beta query shows exemplars


def test_few_shot_prompt_without_an_exemplar_is_not_made():
  few_shot = _renderer("instructions", "fs", GROUPED_POOL, exemplar_group_field="task_name", budget=10_000)
  for query in (GROUPED_POOL[-1], _grouped_example("delta", 0)):  # alone in its group; a group not in the pool
    for index in range(10):
      assert few_shot.render(index, query) is None
  tight = _renderer("instructions", "fs", GROUPED_POOL, exemplar_group_field="task_name", budget=1)
  assert tight.render(0, GROUPED_POOL[0]) is None  # no exemplar fits the budget


def test_few_shot_group_field_must_be_present():
  renderer = _renderer("instructions", "fs", GROUPED_POOL, exemplar_group_field="task_name")
  with pytest.raises(ValueError, match="exemplar group field 'task_name' is missing from an example"):
    renderer.render(0, Example({"definition": "d", "input": "i", "answer": "a"}))


COT_EXAMPLE = Example({"question": "What is 2 + 3 {x}?", "answer": "5", "rationale": "2 + 3 = 5."})


def test_cot_variants_and_no_rationale_twins():
  family = template_families.get_family("cot")
  assert [v.suffix for v in variants.variants_for(family)] == ["zs", "fs", "cot", "cot_fs", "inverted"]
  for index in range(12):
    inputs, target = _renderer("cot", "cot").render(index, COT_EXAMPLE)
    assert "2 + 3 = 5." in target and target.rstrip(".").endswith("5") and "What is 2 + 3 {x}?" in inputs
    assert target.index("2 + 3 = 5.") < target.rindex("5")
    assert _renderer("cot", "zs").render(index, COT_EXAMPLE)[1] == "5"
    inverted_inputs, inverted_target = _renderer("cot", "inverted").render(index, COT_EXAMPLE)
    assert inverted_target == "What is 2 + 3 {x}?" and "5" in inverted_inputs
  pool = [Example({"question": f"q{i}", "answer": f"a{i}", "rationale": f"r{i}."}) for i in range(6)]
  inputs, target = _renderer("cot", "cot_fs", pool, budget=10_000).render(1, COT_EXAMPLE)
  assert any(f"r{i}." in inputs and f"a{i}" in inputs for i in range(6))


def test_variants_per_family():
  assert [v.suffix for v in variants.variants_for(template_families.get_family("nli"))] == [
      "zs_opt", "zs_noopt", "fs_opt", "fs_noopt", "inverted"]
  assert [v.suffix for v in variants.variants_for(template_families.get_family("translation"))] == ["zs", "fs"]


def test_few_shot_needs_pool():
  with pytest.raises(ValueError, match="exemplar pool"):
    Renderer(template_families.get_family("nli"), variants.FS_OPT)
  with pytest.raises(ValueError, match="no chain-of-thought"):
    Renderer(template_families.get_family("nli"), variants.COT)
  assert rendering.DEFAULT_FEW_SHOT_BUDGET == 1920
