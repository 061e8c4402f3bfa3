"""The Flan 2022 collection: Muffin, T0-SF, NIv2 and CoT submixtures with paper caps and proportions.

Mixtures:
  flan2022_a  proportions A (52 / 15 / 30 / 3 % for Muffin / T0-SF / NIv2 / CoT, Longpre et al. 2023)
  flan2022_b  proportions B (46.0 / 27.9 / 24.2 / 1.8 %, the final Flan-T5 mixture, Chung et al. 2022)
  flan2022    the set chosen in gin: flan.data.rates.flan2022_proportions.name = "A" or "B" (default B)
  flan2022_c  proportions C (40 / 30 / 10 / 10 / 10 % with dialog, FLAN flan/v2 mixtures.py's rates 4/3/1/1/1)
Within a submixture, tasks are examples-proportional with the submixture's per-task cap
(Muffin 30k, T0-SF 20k, NIv2 5k, CoT 100k). Rates are computed from the downloaded data when the
mixture is used; registration reads nothing. See muffin.py / t0_sf.py / niv2.py / cot.py for what
each submixture holds in this implementation (T0-SF is a TFDS-native subset).
"""
import functools

import seqio

from flan.data import rates
from flan.mixtures import cot
from flan.mixtures import dialog
from flan.mixtures import muffin
from flan.mixtures import niv2
from flan.mixtures import t0_sf

SUBMIXTURES = {"muffin": muffin.MIXTURE, "t0sf": t0_sf.MIXTURE, "niv2": niv2.MIXTURE, "cot": cot.MIXTURE}
SUBMIXTURES_C = {**SUBMIXTURES, "dialog": dialog.MIXTURE}


def _submixture_rates(submixtures):
  return {key: list(seqio.get_mixture_or_task(name).rate_per_task_name.items())
          for key, name in submixtures.items()}


def register() -> list[str]:
  entries = _submixture_rates(SUBMIXTURES)
  rates.register_mixture("flan2022_c", rates.weighted_rates(_submixture_rates(SUBMIXTURES_C),
                                                            functools.partial(rates.flan2022_proportions, "C")))
  rates.register_mixture("flan2022_a", rates.weighted_rates(entries, functools.partial(rates.flan2022_proportions, "A")))
  rates.register_mixture("flan2022_b", rates.weighted_rates(entries, functools.partial(rates.flan2022_proportions, "B")))
  rates.register_mixture("flan2022", rates.weighted_rates(entries, rates.flan2022_proportions))
  return ["flan2022_a", "flan2022_b", "flan2022", "flan2022_c"]


MIXTURES = register()
