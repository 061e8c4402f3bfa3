"""T0-SF: the 193 P3 prompts of the Flan Collection's T0 submixture, read from P3 as published.

Each prompt of flan.data.p3_prompts (every T0 training prompt whose dataset is not already in Flan
2021, `_score_eval` variants left out; google-research/FLAN flan/v2 constants_t0.py and mixtures.py)
is one seqio task `p3_<prompt>`, e.g. `p3_cos_e_v1.11_i_think`, reading
<P3 dir>/data/<prompt>/{train,validation}.tfrecord-*-of-* (flan.data.p3; the directory comes from gin
`flan.data.p3.p3_data_dir.path` or FLAN_P3_DIR, looked up only when a task is read). P3's inputs
already carry the prompt, so the tasks are zero-shot as published; multiple-choice prompts that do
not show their choices get them appended. Rates: min(20,000, train examples) per prompt, with the
train sizes of the recorded table, so the mixture's rates are right before P3 is downloaded.

Mixture: "flan2022_t0sf".
"""
import seqio

from flan.data import p3
from flan.data import p3_prompts
from flan.data import rates
from flan.data import vocab

MIXTURE = "flan2022_t0sf"
CAP = rates.CAPS["t0sf"]
TASK_PREFIX = "p3_"


def task_name(prompt: str) -> str:
  return TASK_PREFIX + prompt


def register() -> list[str]:
  vocabulary = vocab.get_vocabulary()
  names = []
  for prompt in p3_prompts.PROMPTS:
    name = task_name(prompt)
    if name in seqio.TaskRegistry.names():
      seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name, source=p3.P3Source(prompt, {"train": p3_prompts.TRAIN_EXAMPLES[prompt]}),
        preprocessors=[p3.preprocess, seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        output_features=vocab.output_features(vocabulary))
    names.append(name)
  rates.register_mixture(MIXTURE, [(name, rates.capped_rate(CAP)) for name in names])
  return names


TASKS = register()
