"""Template families for text generation: summaries, translation, data-to-text, instructions."""
from flan.data.templates import Template, TemplateFamily

SUMMARIZATION = TemplateFamily(
    name="summarization",
    fields=("text",),
    templates=(
        Template("{text}\n\nSummarize the text above."),
        Template("Write a short summary of this:\n\n{text}"),
        Template("Text: {text}\nSummary:"),
        Template("What are the main points of the following?\n{text}"),
        Template("Condense this into a few sentences.\n\n{text}"),
        Template("{text}\nTL;DR:"),
        Template("Here is an article:\n{text}\n\nBriefly, what does it say?"),
        Template("Give the gist of this passage: {text}"),
        Template("Read and summarize.\n{text}"),
        Template("Produce a brief overview of the text below.\n\n{text}"),
    ),
    inverted=(
        Template("Write a text that could be summarized as follows: {answer}", "{text}"),
        Template("Summary: {answer}\nWrite the full text.", "{text}"),
    ),
)

TITLE = TemplateFamily(
    name="title",
    fields=("text",),
    templates=(
        Template("{text}\n\nWrite a title for this."),
        Template("Suggest a headline for the following text.\n{text}"),
        Template("Text: {text}\nTitle:"),
        Template("What would be a good subject line for this message?\n\n{text}"),
        Template("Give this a short heading: {text}"),
        Template("{text}\nA fitting title would be:"),
        Template("Name this piece of writing.\n{text}"),
        Template("Headline for: {text}"),
        Template("Propose a concise title summarizing the text below.\n\n{text}"),
        Template("Here is a message:\n{text}\nWhat is its subject?"),
    ),
    inverted=(
        Template("Write a text with the title \"{answer}\".", "{text}"),
    ),
)

TRANSLATION = TemplateFamily(
    name="translation",
    fields=("text", "source_language", "target_language"),
    templates=(
        Template("Translate from {source_language} to {target_language}:\n\n{text}"),
        Template("{text}\n\nSay this in {target_language}."),
        Template("{source_language}: {text}\n{target_language}:"),
        Template("How would you write \"{text}\" in {target_language}?"),
        Template("Render this {source_language} sentence in {target_language}. {text}"),
        Template("Translate to {target_language}: {text}"),
        Template("Here is a {source_language} text:\n{text}\nGive its {target_language} translation."),
        Template("{text}\nWhat is that in {target_language}?"),
        Template("Convert the following into {target_language}.\n{text}"),
        Template("Please translate this sentence into {target_language}: {text}"),
    ),
)

DATA_TO_TEXT = TemplateFamily(
    name="data_to_text",
    fields=("data",),
    templates=(
        Template("Describe this data in a sentence: {data}"),
        Template("Data: {data}\nText:"),
        Template("Write a sentence that uses all of this information.\n\n{data}"),
        Template("{data}\n\nTurn the facts above into natural text."),
        Template("Express these facts as prose: {data}"),
        Template("Here are some attributes:\n{data}\nWrite a description."),
        Template("Generate a sentence from the following structured data. {data}"),
        Template("Verbalize: {data}"),
        Template("{data}\nWhat is a fluent sentence stating this?"),
        Template("Compose one or two sentences mentioning every item here: {data}"),
    ),
    inverted=(
        Template("Extract the facts in this sentence as data: {answer}", "{data}"),
    ),
)

INSTRUCTIONS = TemplateFamily(
    name="instructions",
    fields=("definition", "input"),
    templates=(
        Template("{definition}\n\n{input}"),
        Template("Instructions: {definition}\nInput: {input}\nOutput:"),
        Template("Task: {definition}\n\n{input}"),
        Template("{definition}\nHere is the input: {input}"),
        Template("Follow these directions.\n{definition}\n\nInput:\n{input}"),
        Template("You are given a task. {definition}\n\n{input}\nAnswer:"),
        Template("Definition: {definition}\n\nNow solve this instance: {input}"),
        Template("{input}\n\nDo the following with the text above: {definition}"),
        Template("Read the instructions and respond.\n\n{definition}\n\n{input}"),
        Template("Problem description: {definition}\nProblem: {input}\nSolution:"),
    ),
)
