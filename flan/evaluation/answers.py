"""Answer extraction: from a model's free text to the answer a benchmark compares with its gold."""
import re

# English phrases that introduce the final answer, most specific first (for equal positions).
ANSWER_PHRASES = ("so the answer is", "the final answer is", "the correct answer is", "the answer is",
                  "answer:")
TRAILING_PUNCTUATION = " \t\n.。!！?？,，;；:：।\"'`"
_OPTION_IN_PARENS = re.compile(r"\(([A-Z])\)")
_LEADING_OPTION = re.compile(r"^\s*\(?([A-Z])(?:\)|\.|:|,|\s|$)")
# A number: optional sign, digits with optional thousands groups, optional decimal part.
_NUMBER = re.compile(r"[-−]?\d+(?:[.,]\d+)*")


def strip_answer(text):
  """The answer without surrounding whitespace, trailing punctuation and enclosing quotes."""
  text = text.strip().rstrip(TRAILING_PUNCTUATION).strip()
  return text.strip("\"'`“”«»").rstrip(TRAILING_PUNCTUATION).strip()


def text_after_answer_phrase(text, phrases=ANSWER_PHRASES):
  """Text after the last occurrence of any phrase (case-insensitive), or None when none occurs."""
  lowered = text.lower()
  best = None  # (start, length) of the chosen occurrence
  for phrase in phrases:
    start = lowered.rfind(phrase.lower())
    if start >= 0 and (best is None or start > best[0] or (start == best[0] and len(phrase) > best[1])):
      best = (start, len(phrase))
  if best is None:
    return None
  return text[best[0] + best[1]:]


def extract_final_answer(text, phrases=ANSWER_PHRASES):
  """The answer a chain of thought ends with: what follows the last answer phrase, up to the sentence end.

  Without any answer phrase, the whole text (so a bare answer such as "(B)" is read as itself).
  """
  tail = text_after_answer_phrase(text, phrases)
  if tail is None:
    return strip_answer(text)
  tail = tail.strip().split("\n", 1)[0]
  sentence_end = re.search(r"[.。](?:\s|$)", tail)
  if sentence_end:
    tail = tail[:sentence_end.start()]
  return strip_answer(tail)


def extract_option_letter(text, letters="ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
  """The option a text picks: "(C)" anywhere, else a leading letter ("C", "C.", "C) ...")."""
  for match in _OPTION_IN_PARENS.finditer(text):
    if match.group(1) in letters:
      return match.group(1)
  match = _LEADING_OPTION.match(text)
  if match and match.group(1) in letters:
    return match.group(1)
  return None


def parse_number(token):
  """"1,234" -> 1234.0, "3.5" -> 3.5, "80.000" -> 80000.0, "1.234,5" -> 1234.5, "−2" -> -2.0."""
  token = token.replace("−", "-")
  sign = -1.0 if token.startswith("-") else 1.0
  digits = token.lstrip("-")
  separators = [c for c in digits if c in ".,"]
  if separators:
    groups = re.split(r"[.,]", digits)
    last_separator = separators[-1]
    all_thousands = all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3
    if len(set(separators)) == 1 and (len(separators) > 1 or all_thousands) and all_thousands:
      digits = "".join(groups)
    else:
      integer_part, _, fraction = digits.rpartition(last_separator)
      digits = re.sub(r"[.,]", "", integer_part) + "." + fraction
  return sign * float(digits)


def find_numbers(text):
  return [parse_number(match.group(0)) for match in _NUMBER.finditer(text)]


def extract_number(text, phrases=ANSWER_PHRASES):
  """The first number after the last answer phrase, else the last number in the text, else None."""
  tail = text_after_answer_phrase(text, phrases)
  if tail is not None:
    numbers = find_numbers(tail)
    if numbers:
      return numbers[0]
  numbers = find_numbers(text)
  return numbers[-1] if numbers else None


def numbers_equal(a, b):
  return a is not None and b is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))
