"""Summary families for datasets whose input is not an article: dialogues, critics' reviews, debate arguments."""
from flan.data.templates import Template, TemplateFamily

DIALOGUE_SUMMARY = TemplateFamily(
    name="dialogue_summary",
    fields=("text",),
    templates=(
        Template("{text}\n\nSummarize this conversation."),
        Template("Here is a chat between friends:\n{text}\nWhat was it about, in a sentence or two?"),
        Template("Dialogue:\n{text}\nSummary:"),
        Template("Briefly report what the people in this conversation said or decided.\n\n{text}"),
        Template("{text}\n\nWrite a short recap of the dialogue above."),
        Template("Read the messages and sum them up.\n{text}"),
        Template("What is the gist of this exchange?\n\n{text}"),
        Template("Summarize the following chat in the third person.\n{text}"),
    ),
    inverted=(
        Template("Write a conversation that could be summarized as: {answer}", "{text}"),
    ),
)

CRITICS_CONSENSUS = TemplateFamily(
    name="critics_consensus",
    fields=("text",),
    templates=(
        Template("Here are critics' comments on a film:\n{text}\n\nWhat is the critics' consensus?"),
        Template("{text}\n\nSum up what the reviewers agree on about this movie."),
        Template("Reviews:\n{text}\nConsensus:"),
        Template("Combine these movie reviews into one overall verdict.\n\n{text}"),
        Template("Several critics wrote the following.\n{text}\nWrite the one-sentence consensus."),
        Template("What do these reviews say about the film, taken together?\n{text}"),
        Template("{text}\nIn one sentence, how did critics receive this movie?"),
        Template("Write a critics' consensus for a movie reviewed like this:\n\n{text}"),
    ),
    inverted=(
        Template("Write a critic's review of a movie whose consensus is: {answer}", "{text}"),
    ),
)

DEBATE_CLAIM = TemplateFamily(
    name="debate_claim",
    fields=("text",),
    templates=(
        Template("{text}\n\nWhat claim do these arguments support?"),
        Template("Arguments: {text}\nClaim:"),
        Template("Here is one side of a debate:\n{text}\nState its main claim in one sentence."),
        Template("What position is argued for in the following?\n\n{text}"),
        Template("{text}\nSummarize this argument as a single claim."),
        Template("Read the argument and write the claim it defends.\n{text}"),
        Template("Which statement is the author of this argument trying to prove?\n{text}"),
        Template("Give the thesis of this debate argument: {text}"),
    ),
    inverted=(
        Template("Write arguments in support of this claim: {answer}", "{text}"),
    ),
)
