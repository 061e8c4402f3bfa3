"""Examples whose prompt is already written (P3's inputs_pretokenized): the template adds only options."""
from flan.data.templates import Template, TemplateFamily

PROMPTED = TemplateFamily(
    name="prompted",
    fields=("prompt",),
    has_options=True,
    templates=(Template("{prompt}{options}"),),
)
