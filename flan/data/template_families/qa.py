"""Template families for question answering and multiple choice (our own wording)."""
from flan.data.templates import Template, TemplateFamily

YES_NO_QA = TemplateFamily(
    name="yes_no_qa",
    fields=("passage", "question"),
    has_options=True,
    templates=(
        Template("{passage}\n\nBased on the passage, {question}?{options}"),
        Template("Passage: {passage}\nQuestion: {question}?{options}"),
        Template("Read the text and answer yes or no.\n\n{passage}\n\n{question}?{options}"),
        Template("{passage}\nIs it true that {question}?{options}"),
        Template("Background: {passage}\n\nGiven that, {question}?{options}"),
        Template("Answer the question using the article.\nArticle: {passage}\nQ: {question}?{options}"),
        Template("Here is some information: {passage}\nDoes this tell us that {question}?{options}"),
        Template("{question}? Use this text to decide: {passage}{options}"),
        Template("Text: {passage}\n\nAfter reading this, {question}?{options}"),
        Template("Consider the following.\n{passage}\nNow, {question}?{options}"),
    ),
    inverted=(
        Template("{passage}\n\nWrite a yes/no question about this passage whose answer is {answer}.",
                 "{question}"),
        Template("Ask a question about the text below that should be answered \"{answer}\".\n{passage}",
                 "{question}"),
    ),
)

MULTIPLE_CHOICE = TemplateFamily(
    name="multiple_choice",
    fields=("context", "question"),
    has_options=True,
    templates=(
        Template("{context}\n\n{question}{options}"),
        Template("Context: {context}\nQuestion: {question}{options}"),
        Template("Read this and answer the question.\n{context}\n{question}{options}"),
        Template("{question}\n\nUse the following to help: {context}{options}"),
        Template("Here is a situation: {context}\nWhat is the best answer to: {question}{options}"),
        Template("{context}\nQ: {question}\nPick the most suitable answer.{options}"),
        Template("Answer based on the passage.\n\nPassage: {context}\n\n{question}{options}"),
        Template("Given \"{context}\", {question}{options}"),
        Template("Think about this: {context}\nThen answer: {question}{options}"),
        Template("{context}\n\nWhich answer fits? {question}{options}"),
    ),
    inverted=(
        Template("{context}\n\nWrite a question about this whose answer is \"{answer}\".", "{question}"),
        Template("Answer: {answer}\nContext: {context}\nWhat question leads to this answer?", "{question}"),
    ),
)

MC_QUESTION = TemplateFamily(
    name="mc_question",
    fields=("question",),
    has_options=True,
    templates=(
        Template("{question}{options}"),
        Template("Question: {question}{options}"),
        Template("Pick the right answer.\n\n{question}{options}"),
        Template("{question}\nWhich choice is correct?{options}"),
        Template("Answer this multiple-choice question: {question}{options}"),
        Template("Here is a question: {question}\nWhat is the best answer?{options}"),
        Template("Q: {question}{options}"),
        Template("Test question. {question}{options}"),
        Template("Choose wisely.\n{question}{options}"),
        Template("{question}\n\nSelect the answer that fits best.{options}"),
    ),
    inverted=(
        Template("Write a question whose correct answer is \"{answer}\".", "{question}"),
    ),
)

COMPLETION = TemplateFamily(
    name="completion",
    fields=("context",),
    has_options=True,
    templates=(
        Template("{context}\n\nHow does this most likely continue?{options}"),
        Template("Finish the text: {context}{options}"),
        Template("What comes next?\n{context}{options}"),
        Template("Complete the following.\n\n{context}{options}"),
        Template("{context}...\nChoose the best ending.{options}"),
        Template("Start: {context}\nWhich continuation makes the most sense?{options}"),
        Template("Continue this passage in the most sensible way: {context}{options}"),
        Template("Here is the beginning of a description: {context}\nWhat is the likely next part?{options}"),
        Template("Pick the ending that follows naturally.\n{context}{options}"),
        Template("{context}\nWhat happens after that?{options}"),
    ),
    inverted=(
        Template("Write the beginning of a text that could end with: {answer}", "{context}"),
    ),
)

COREFERENCE = TemplateFamily(
    name="coreference",
    fields=("sentence", "pronoun"),
    has_options=True,
    templates=(
        Template("{sentence}\n\nWho or what does \"{pronoun}\" refer to?{options}"),
        Template("In the sentence \"{sentence}\", what is meant by {pronoun}?{options}"),
        Template("Sentence: {sentence}\nResolve the reference \"{pronoun}\".{options}"),
        Template("{sentence}\nWhat does the word {pronoun} stand for here?{options}"),
        Template("Read: {sentence}\nTo what does \"{pronoun}\" point?{options}"),
        Template("Find the antecedent of \"{pronoun}\" in: {sentence}{options}"),
        Template("Who is \"{pronoun}\" in this sentence? {sentence}{options}"),
        Template("Here is a sentence with a reference to resolve.\n{sentence}\nReference: {pronoun}{options}"),
        Template("{sentence}\n\nIn the text above, {pronoun} means which one?{options}"),
        Template("Identify what \"{pronoun}\" refers to: {sentence}{options}"),
    ),
)

EXTRACTIVE_QA = TemplateFamily(
    name="extractive_qa",
    fields=("context", "question"),
    templates=(
        Template("{context}\n\nAnswer this question about the passage: {question}"),
        Template("Context: {context}\nQuestion: {question}\nAnswer:"),
        Template("Read the article and answer.\n\n{context}\n\n{question}"),
        Template("{question}\n\nThe answer can be found here: {context}"),
        Template("Use the text to answer \"{question}\".\n{context}"),
        Template("Passage:\n{context}\n\nQ: {question}"),
        Template("Here is some background: {context}\nWith that in mind, {question}"),
        Template("{context}\nFrom the passage, {question}"),
        Template("Find the answer in the text below.\nQuestion: {question}\nText: {context}"),
        Template("Answer using a phrase from the paragraph: {question}\n\n{context}"),
    ),
    inverted=(
        Template("{context}\n\nWrite a question about the passage whose answer is \"{answer}\".", "{question}"),
        Template("Passage: {context}\nAnswer: {answer}\nWhat was the question?", "{question}"),
        Template("Make up a reading-comprehension question for this text with answer {answer}.\n{context}",
                 "{question}"),
    ),
)

CLOSED_QA = TemplateFamily(
    name="closed_qa",
    fields=("question",),
    templates=(
        Template("{question}"),
        Template("Answer the following question: {question}"),
        Template("Q: {question}\nA:"),
        Template("Question: {question}\nAnswer:"),
        Template("Please answer this: {question}"),
        Template("What is the answer to this question? {question}"),
        Template("{question}\nGive a short answer."),
        Template("Quick question: {question}"),
        Template("Trivia time. {question}"),
        Template("I have a question for you: {question}"),
    ),
    inverted=(
        Template("Write a question whose answer is \"{answer}\".", "{question}"),
        Template("Answer: {answer}\nWhat could the question be?", "{question}"),
    ),
)
