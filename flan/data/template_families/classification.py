"""Template families for classification datasets (our own wording).

`{options}` expands to an answer-options block (with its own leading line breaks) or to nothing.
"""
from flan.data.templates import Template, TemplateFamily

NLI = TemplateFamily(
    name="nli",
    fields=("premise", "hypothesis"),
    has_options=True,
    templates=(
        Template("Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?{options}"),
        Template("{premise}\n\nGiven the text above, is the following statement true: \"{hypothesis}\"?{options}"),
        Template("Read this: {premise}\nCan we conclude that {hypothesis}{options}"),
        Template("Suppose {premise} Does it follow that \"{hypothesis}\"?{options}"),
        Template("Statement one: {premise}\nStatement two: {hypothesis}\n"
                 "How is statement two related to statement one?{options}"),
        Template("Here is a passage:\n{premise}\n\nWould you say this is implied: {hypothesis}{options}"),
        Template("If \"{premise}\", then is \"{hypothesis}\" correct?{options}"),
        Template("Decide whether the second sentence follows from the first.\n\n{premise}\n{hypothesis}{options}"),
        Template("{premise}\nBased on that, is it the case that {hypothesis}?{options}"),
        Template("Context: {premise}\nClaim: {hypothesis}\nIs the claim supported by the context?{options}"),
    ),
    inverted=(
        Template("Premise: {premise}\nDoes the hypothesis follow from it? {answer}\nWrite such a hypothesis.",
                 "{hypothesis}"),
        Template("Write a sentence for which the question \"does it follow from '{premise}'?\" has the answer "
                 "\"{answer}\".", "{hypothesis}"),
        Template("{premise}\n\nCompose a claim about the text above; is the claim supported: {answer}.",
                 "{hypothesis}"),
    ),
)

PARAPHRASE = TemplateFamily(
    name="paraphrase",
    fields=("sentence1", "sentence2"),
    has_options=True,
    templates=(
        Template("Do these two sentences say the same thing?\n{sentence1}\n{sentence2}{options}"),
        Template("Sentence A: {sentence1}\nSentence B: {sentence2}\nAre A and B paraphrases?{options}"),
        Template("\"{sentence1}\" and \"{sentence2}\" - same meaning?{options}"),
        Template("Is the meaning of \"{sentence1}\" kept in \"{sentence2}\"?{options}"),
        Template("Compare:\n1) {sentence1}\n2) {sentence2}\nDo 1) and 2) mean the same?{options}"),
        Template("{sentence1}\n\n{sentence2}\n\nAre the two texts above equivalent in meaning?{options}"),
        Template("Would a careful reader say that \"{sentence2}\" restates \"{sentence1}\"?{options}"),
        Template("First: {sentence1}\nSecond: {sentence2}\nIs the second a rewording of the first?{options}"),
        Template("Check whether these have identical meaning: {sentence1} || {sentence2}{options}"),
        Template("Here are two questions or sentences.\n{sentence1}\n{sentence2}\nDo they ask or state the "
                 "same thing?{options}"),
    ),
)

SENTIMENT = TemplateFamily(
    name="sentiment",
    fields=("text",),
    has_options=True,
    templates=(
        Template("{text}\n\nWhat is the sentiment of this text?{options}"),
        Template("Review: {text}\nIs this review positive or negative?{options}"),
        Template("How does the writer feel?\n\n{text}{options}"),
        Template("Classify the tone of the following.\n{text}{options}"),
        Template("\"{text}\"\nWould you call this opinion favourable?{options}"),
        Template("Read the text and tell me its sentiment.\nText: {text}{options}"),
        Template("{text}\nWhich attitude does the author express?{options}"),
        Template("Determine the polarity: {text}{options}"),
        Template("Here is some feedback: {text}\nWas the customer happy?{options}"),
        Template("What mood does this convey? {text}{options}"),
    ),
    inverted=(
        Template("Write a short review with {answer} sentiment.", "{text}"),
        Template("Compose a text whose sentiment is: {answer}", "{text}"),
    ),
)

TOPIC = TemplateFamily(
    name="topic",
    fields=("text",),
    has_options=True,
    templates=(
        Template("{text}\n\nWhat is this text about?{options}"),
        Template("Which category fits this best?\n{text}{options}"),
        Template("Topic of the following: {text}{options}"),
        Template("Assign a label to the passage.\n\n{text}{options}"),
        Template("Classify: {text}{options}"),
        Template("Text: {text}\nWhat kind of text is this?{options}"),
        Template("Here is a snippet:\n{text}\nPick its subject.{options}"),
        Template("{text}\nWhich section would this appear in?{options}"),
        Template("Read this and say what it concerns: {text}{options}"),
        Template("What type of content is \"{text}\"?{options}"),
    ),
    inverted=(
        Template("Write a short text about the topic: {answer}", "{text}"),
    ),
)

ACCEPTABILITY = TemplateFamily(
    name="acceptability",
    fields=("sentence",),
    has_options=True,
    templates=(
        Template("Is this sentence grammatical?\n{sentence}{options}"),
        Template("\"{sentence}\"\nWould a native speaker accept this sentence?{options}"),
        Template("Judge the grammar: {sentence}{options}"),
        Template("Sentence: {sentence}\nIs it well formed?{options}"),
        Template("Does the following read as correct English? {sentence}{options}"),
        Template("{sentence}\n\nIs the sentence above linguistically acceptable?{options}"),
        Template("Check this for grammatical errors: {sentence}{options}"),
        Template("Is \"{sentence}\" an acceptable English sentence?{options}"),
        Template("Grammar check.\n{sentence}{options}"),
        Template("Could this sentence appear in edited text unchanged? {sentence}{options}"),
    ),
)

WORD_SENSE = TemplateFamily(
    name="word_sense",
    fields=("word", "sentence1", "sentence2"),
    has_options=True,
    templates=(
        Template("Does \"{word}\" mean the same in both sentences?\n{sentence1}\n{sentence2}{options}"),
        Template("Sentence 1: {sentence1}\nSentence 2: {sentence2}\nSame sense of \"{word}\"?{options}"),
        Template("The word \"{word}\" appears in \"{sentence1}\" and in \"{sentence2}\". Is the meaning "
                 "shared?{options}"),
        Template("{sentence1}\n{sentence2}\nIs {word} used with one meaning here?{options}"),
        Template("Word: {word}\nUse A: {sentence1}\nUse B: {sentence2}\nIdentical sense?{options}"),
        Template("Compare the meaning of '{word}' in these sentences: {sentence1} / {sentence2}{options}"),
        Template("Is the sense of \"{word}\" in \"{sentence2}\" the one in \"{sentence1}\"?{options}"),
        Template("Here is a word, {word}, in two contexts.\n{sentence1}\n{sentence2}\nDoes it mean the same "
                 "thing?{options}"),
    ),
)

SIMILARITY = TemplateFamily(
    name="similarity",
    fields=("sentence1", "sentence2"),
    templates=(
        Template("How similar are these sentences, from 0 to 5?\n{sentence1}\n{sentence2}"),
        Template("Rate the similarity (0-5).\nA: {sentence1}\nB: {sentence2}"),
        Template("{sentence1}\n{sentence2}\nGive a similarity score between 0 and 5."),
        Template("On a scale of zero to five, how close in meaning are \"{sentence1}\" and \"{sentence2}\"?"),
        Template("Score the overlap in meaning, 0 meaning unrelated and 5 meaning equivalent: "
                 "{sentence1} || {sentence2}"),
        Template("First sentence: {sentence1}\nSecond sentence: {sentence2}\nSimilarity (0 to 5):"),
        Template("Measure how alike these are on a 0-5 scale. {sentence1} / {sentence2}"),
        Template("Two sentences:\n- {sentence1}\n- {sentence2}\nWhat similarity rating would you give?"),
    ),
)
