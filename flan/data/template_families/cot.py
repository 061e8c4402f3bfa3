"""Template family for chain-of-thought datasets: question -> rationale then answer (our own wording).

The zero-shot and few-shot no-rationale twins use the same inputs with the bare answer as target.
"""
from flan.data.templates import Template, TemplateFamily

COT = TemplateFamily(
    name="cot",
    fields=("question",),
    templates=(
        Template("{question}"),
        Template("Question: {question}"),
        Template("Answer the following.\n{question}"),
        Template("Q: {question}"),
        Template("Solve this: {question}"),
        Template("{question}\nWhat is the answer?"),
        Template("Here is a problem for you.\n\n{question}"),
        Template("Please work out the following. {question}"),
        Template("Consider this question.\n{question}"),
        Template("Problem: {question}"),
    ),
    cot_targets=(
        "{rationale} So the answer is {answer}.",
        "{rationale} Therefore, the answer is {answer}.",
        "Reasoning: {rationale}\nAnswer: {answer}",
        "{rationale} The final answer: {answer}.",
        "Let me explain. {rationale} That means the answer is {answer}.",
        "{rationale}\nThus: {answer}",
    ),
    cot_cues=(
        "\nReason step by step before answering.",
        "\nExplain your reasoning, then give the answer.",
        "\nThink it through first.",
        "\nShow the steps that lead to the answer.",
        "\nWork it out carefully and explain.",
    ),
    inverted=(
        Template("Reasoning: {rationale}\nAnswer: {answer}\nWhat question was being answered?", "{question}"),
        Template("Write a question that this explanation answers with \"{answer}\".\n\n{rationale}",
                 "{question}"),
        Template("{rationale} So the answer is {answer}.\n\nWhat was the question?", "{question}"),
        Template("Come up with a question and this reasoning leads to its answer ({answer}): {rationale}",
                 "{question}"),
    ),
)
