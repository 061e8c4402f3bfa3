"""Dialog: continue a conversation (the next turn), and its inversion (the conversation before a turn)."""
from flan.data.templates import Template, TemplateFamily

DIALOG = TemplateFamily(
    name="dialog",
    fields=("dialog",),
    templates=(
        Template("{dialog}\n\nWhat is the next turn of this conversation?"),
        Template("Continue the dialogue.\n\n{dialog}"),
        Template("Here is a conversation so far:\n{dialog}\nWrite the reply that comes next."),
        Template("{dialog}\nNext speaker:"),
        Template("Read the conversation and answer as the next speaker would.\n\n{dialog}"),
        Template("Conversation:\n{dialog}\n\nReply:"),
        Template("What would be a good response to the last message?\n{dialog}"),
        Template("{dialog}\n\nRespond to the conversation above."),
        Template("Dialogue history:\n{dialog}\nGenerate the next utterance."),
        Template("Write the next line of this exchange.\n{dialog}"),
    ),
    inverted=(
        Template("Here is a reply in a conversation: {answer}\nWrite the conversation that leads to it.",
                 "{dialog}"),
        Template("Make up the dialogue that comes before this turn.\n\n{answer}", "{dialog}"),
    ),
)
