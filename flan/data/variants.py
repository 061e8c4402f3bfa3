"""Prompt variants of a dataset and their task-name suffixes.

A registered dataset NAME becomes seqio tasks `NAME:<suffix>`:
  zs_opt / zs_noopt   zero-shot with / without the answer options (families with options)
  fs_opt / fs_noopt   few-shot with / without options
  zs / fs             zero-shot / few-shot (families without options; for CoT families: no rationale)
  cot / cot_fs        chain of thought (rationale then answer), zero-shot / few-shot
  inverted            input inversion (answer -> question), families that define inverted templates

A dataset registers its family's default variants unless it names others: for chain-of-thought
families that excludes the answer-only zs / fs (the Flan Collection's CoT templates always carry the
rationale); they stay available when asked for by name.
"""
import dataclasses

from flan.data import templates


@dataclasses.dataclass(frozen=True)
class Variant:
  suffix: str
  few_shot: bool = False
  options: bool = False
  cot: bool = False
  inverted: bool = False


ZS_OPT = Variant("zs_opt", options=True)
ZS_NOOPT = Variant("zs_noopt")
FS_OPT = Variant("fs_opt", few_shot=True, options=True)
FS_NOOPT = Variant("fs_noopt", few_shot=True)
ZS = Variant("zs")
FS = Variant("fs", few_shot=True)
COT = Variant("cot", cot=True)
COT_FS = Variant("cot_fs", few_shot=True, cot=True)
INVERTED = Variant("inverted", inverted=True)

ALL = (ZS_OPT, ZS_NOOPT, FS_OPT, FS_NOOPT, ZS, FS, COT, COT_FS, INVERTED)
BY_SUFFIX = {variant.suffix: variant for variant in ALL}


def variants_for(family: templates.TemplateFamily) -> tuple[Variant, ...]:
  """All variants that a template family supports (see default_variants for what is registered)."""
  out = [ZS_OPT, ZS_NOOPT, FS_OPT, FS_NOOPT] if family.has_options else [ZS, FS]
  if family.cot_targets:
    out += [COT, COT_FS]
  if family.inverted:
    out.append(INVERTED)
  return tuple(out)


def task_name(dataset_name: str, variant: Variant) -> str:
  return f"{dataset_name}:{variant.suffix}"


def default_variants(family: templates.TemplateFamily) -> tuple[Variant, ...]:
  """The variants registered when a dataset does not name its own: CoT families only with rationale."""
  supported = variants_for(family)
  if family.cot_targets:
    return tuple(v for v in supported if v.cot or v.inverted)
  return supported
