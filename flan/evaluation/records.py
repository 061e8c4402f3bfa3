"""One evaluation prompt with its gold answer: the unit that readers build and scorers consume."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class EvalExample:
  """A prompt of one benchmark, ready to decode, and what a correct answer is.

  id: unique over the whole suite, "<benchmark>/<subset>/<index or source id>".
  benchmark: one of flan.evaluation.benchmarks.BENCHMARKS (e.g. "mmlu_direct", "bbh_cot").
  subset: the MMLU subject, BBH task, TyDiQA language or MGSM language.
  gold: the answer a perfect model gives (an option letter, a BBH target, an MGSM number as text,
    the first TyDiQA answer span).
  gold_aliases: every acceptable answer for span metrics (TyDiQA's answer list); empty otherwise.
  num_options: options the question offers (multiple choice); 0 for free-form answers.
  chance: expected score (0-1) of guessing uniformly among the options or labels; 0 for free-form answers.
  answer_phrases: phrases introducing the final answer of a chain of thought (MGSM: the language's own).
  """
  id: str
  benchmark: str
  subset: str
  prompt: str
  gold: str
  gold_aliases: tuple = ()
  num_options: int = 0
  chance: float = 0.0
  answer_phrases: tuple = ()

  def to_json(self):
    # "inputs" repeats the prompt so an exported file is also flan-infer's input format.
    return {"id": self.id, "benchmark": self.benchmark, "subset": self.subset,
            "prompt": self.prompt, "inputs": self.prompt, "gold": self.gold,
            "gold_aliases": list(self.gold_aliases), "num_options": self.num_options,
            "chance": self.chance}
