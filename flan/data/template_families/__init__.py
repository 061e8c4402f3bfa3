"""Registry of template families by name."""
from flan.data import names
from flan.data.template_families import classification, cot, demo, dialog, generation, prompted, qa, summaries
from flan.data.templates import TemplateFamily

FAMILIES: dict[str, TemplateFamily] = {
    family.name: family for family in (
        classification.NLI, classification.PARAPHRASE, classification.SENTIMENT, classification.TOPIC,
        classification.ACCEPTABILITY, classification.WORD_SENSE, classification.SIMILARITY,
        qa.YES_NO_QA, qa.MULTIPLE_CHOICE, qa.MC_QUESTION, qa.COMPLETION, qa.COREFERENCE, qa.EXTRACTIVE_QA, qa.CLOSED_QA,
        generation.SUMMARIZATION, generation.TITLE, generation.TRANSLATION, generation.DATA_TO_TEXT,
        generation.INSTRUCTIONS, cot.COT, dialog.DIALOG, summaries.DIALOGUE_SUMMARY,
        summaries.CRITICS_CONSENSUS, summaries.DEBATE_CLAIM, prompted.PROMPTED, *demo.ALL,
    )
}


def register_family(family: TemplateFamily) -> TemplateFamily:
  """Adds a user-defined family (e.g. from gin) to the registry."""
  if family.name in FAMILIES and FAMILIES[family.name] != family:
    raise ValueError(f"a different template family named {family.name!r} is already registered")
  FAMILIES[family.name] = family
  return family


def get_family(family: str | TemplateFamily) -> TemplateFamily:
  if isinstance(family, TemplateFamily):
    return family
  if family not in FAMILIES:
    raise ValueError(names.unknown_name_message("template family", family, FAMILIES))
  return FAMILIES[family]
