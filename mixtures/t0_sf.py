"""T0-SF: the 193 P3 prompts of the Flan Collection's T0 submixture, read from P3 as published.

Each prompt of flan.data.p3_prompts (every T0 training prompt whose dataset is not already in Flan
2021, `_score_eval` variants left out; google-research/FLAN flan/v2 constants_t0.py and mixtures.py)
is one dataset `p3_<prompt>`, e.g. `p3_cos_e_v1.11_i_think`, reading
<P3 dir>/data/<prompt>/{train,validation}.tfrecord-*-of-* (flan.data.p3; the directory comes from gin
`flan.data.p3.p3_data_dir.path` or FLAN_P3_DIR, looked up only when a task is read). P3's inputs
already carry the prompt; like FLAN's T0 suites, each prompt is registered zero- and few-shot (exemplars
from the same prompt's train split), with and without its answer choices appended where the prompt does
not show them: `p3_<prompt>:{zs_opt,zs_noopt,fs_opt,fs_noopt}`. Rates: min(20,000, train examples) per
prompt, shared by its variants, with the train sizes of the recorded table, so the mixture's rates are
right before P3 is downloaded.

Mixture: "flan2022_t0sf".
"""
from flan.data import p3
from flan.data import p3_prompts
from flan.data import rates
from flan.data import registration
from flan.data.registration import DatasetSpec

MIXTURE = "flan2022_t0sf"
CAP = rates.CAPS["t0sf"]
DATASET_PREFIX = "p3_"


def dataset_name(prompt: str) -> str:
  return DATASET_PREFIX + prompt


def register() -> dict[str, list[str]]:
  tasks = {}
  for prompt in p3_prompts.PROMPTS:
    source = p3.P3Source(prompt, {"train": p3_prompts.TRAIN_EXAMPLES[prompt]})
    spec = DatasetSpec(name=dataset_name(prompt), source=source, family="prompted", field_map=p3.to_fields)
    tasks[spec.name] = registration.register_dataset(spec)
  rates.register_mixture(MIXTURE, [entry for names in tasks.values() for entry in rates.dataset_rates(names, CAP)])
  return tasks


TASKS = register()
