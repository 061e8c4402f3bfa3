"""Template families of the procedurally generated demo tasks (short prompts, small answer spaces).

Each *_HELDOUT family has wordings never used in training; the demo evaluates on them.
"""
from flan.data.templates import Template, TemplateFamily

ADDITION = TemplateFamily(
    name="demo_addition", fields=("a", "b"),
    templates=(
        Template("What is {a} plus {b}?"), Template("{a} + {b} ="), Template("Add {a} and {b}."),
        Template("Compute the sum of {a} and {b}."), Template("Calculate: {a} + {b}"),
        Template("Sum: {a} and {b}"),
    ),
    inverted=(Template("Give two digits that add up to {answer}.", "{a} and {b}"),),
)
ADDITION_HELDOUT = TemplateFamily(
    name="demo_addition_heldout", fields=("a", "b"),
    templates=(Template("How much is {a} + {b}?"), Template("Add up {a} and {b}:")),
)

SUBTRACTION = TemplateFamily(
    name="demo_subtraction", fields=("a", "b"),
    templates=(
        Template("What is {a} minus {b}?"), Template("{a} - {b} ="), Template("Subtract {b} from {a}."),
        Template("Compute {a} - {b}."), Template("Take {b} away from {a}."),
    ),
)

COMPARISON = TemplateFamily(
    name="demo_comparison", fields=("a", "b"), has_options=True,
    templates=(
        Template("Is {a} greater than {b}?{options}"), Template("{a} > {b}?{options}"),
        Template("Is {a} bigger than {b}?{options}"), Template("True or not: {a} exceeds {b}.{options}"),
        Template("Is {b} smaller than {a}?{options}"),
    ),
)
COMPARISON_HELDOUT = TemplateFamily(
    name="demo_comparison_heldout", fields=("a", "b"), has_options=True,
    templates=(Template("Is {a} larger than {b}?{options}"), Template("Is {a} more than {b}?{options}")),
)

LARGER = TemplateFamily(
    name="demo_larger", fields=("a", "b"), has_options=True,
    templates=(
        Template("Which is larger: {a} or {b}?{options}"), Template("max({a}, {b}) ={options}"),
        Template("Pick the bigger number, {a} or {b}.{options}"),
        Template("Of {a} and {b}, which is greater?{options}"),
    ),
)

SORTING = TemplateFamily(
    name="demo_sorting", fields=("items",),
    templates=(
        Template("Sort ascending: {items}"), Template("Put in increasing order: {items}"),
        Template("Order from smallest to largest: {items}"), Template("sort({items}) ="),
    ),
)

REVERSAL = TemplateFamily(
    name="demo_reversal", fields=("word",),
    templates=(
        Template("Reverse the letters of {word}."), Template("Spell {word} backwards."),
        Template("Write {word} in reverse."), Template("reverse({word}) ="),
    ),
    inverted=(Template("Which word reversed gives {answer}?", "{word}"),),
)

FIRST_LETTER = TemplateFamily(
    name="demo_first_letter", fields=("word",),
    templates=(
        Template("What is the first letter of {word}?"), Template("First letter of {word}:"),
        Template("Which letter does {word} start with?"),
    ),
)

LOGIC = TemplateFamily(
    name="demo_logic", fields=("expression",), has_options=True,
    templates=(
        Template("Evaluate: {expression}{options}"), Template("{expression} is{options}"),
        Template("Is \"{expression}\" true or false?{options}"), Template("What is the value of {expression}?{options}"),
    ),
)
LOGIC_HELDOUT = TemplateFamily(
    name="demo_logic_heldout", fields=("expression",), has_options=True,
    templates=(Template("Compute the truth value of {expression}.{options}"),),
)

ALL = (ADDITION, ADDITION_HELDOUT, SUBTRACTION, COMPARISON, COMPARISON_HELDOUT, LARGER, SORTING, REVERSAL,
       FIRST_LETTER, LOGIC, LOGIC_HELDOUT)
