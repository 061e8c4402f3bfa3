"""Look-ups of registered names that fail with the closest registered names."""
import difflib
from typing import Iterable


def closest(name: str, candidates: Iterable[str], limit: int = 5) -> list[str]:
  candidates = list(candidates)
  found = difflib.get_close_matches(name, candidates, n=limit, cutoff=0.5)
  if len(found) < limit:  # also suggest names that contain the query, e.g. "cola" -> "glue_cola:zs_opt"
    found += [c for c in sorted(candidates) if name.lower() in c.lower() and c not in found]
  return found[:limit]


def unknown_name_message(kind: str, name: str, candidates: Iterable[str]) -> str:
  candidates = list(candidates)
  suggestions = closest(name, candidates)
  hint = f"closest registered names: {', '.join(suggestions)}" if suggestions else (
      f"{len(candidates)} are registered; none is close")
  return f"unknown {kind} {name!r}; {hint}"


def _registered_names() -> list[str]:
  import seqio  # pylint: disable=import-outside-toplevel
  return list(seqio.TaskRegistry.names()) + list(seqio.MixtureRegistry.names())


def get_task_or_mixture(name: str):
  """seqio Task or Mixture by name; an unknown name raises ValueError listing the closest names."""
  import seqio  # pylint: disable=import-outside-toplevel
  if name in seqio.MixtureRegistry.names():
    return seqio.MixtureRegistry.get(name)
  if name in seqio.TaskRegistry.names():
    return seqio.TaskRegistry.get(name)
  raise ValueError(unknown_name_message("task or mixture", name, _registered_names()))


def get_task(name: str):
  import seqio  # pylint: disable=import-outside-toplevel
  if name in seqio.TaskRegistry.names():
    return seqio.TaskRegistry.get(name)
  raise ValueError(unknown_name_message("task", name, seqio.TaskRegistry.names()))


def get_mixture(name: str):
  import seqio  # pylint: disable=import-outside-toplevel
  if name in seqio.MixtureRegistry.names():
    return seqio.MixtureRegistry.get(name)
  raise ValueError(unknown_name_message("mixture", name, seqio.MixtureRegistry.names()))
