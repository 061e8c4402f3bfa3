"""The evaluation side of the contamination check: benchmark items and their n-gram index.

An item is one test question as the benchmark files hold it, without our prompt words or few-shot exemplars:
  mmlu    the question and its four options (test split; the dev rows are the 5-shot exemplars)
  bbh     the task input (which holds the options of multiple-choice tasks; the cot-prompts are exemplars)
  tydiqa  the passage and the question
  mgsm    the question (the exemplars file is not read)
Item ids follow flan-eval's prompt ids: "<benchmark>/<subset>/<index or TyDiQA id>".

The index file is a numpy .npz (read without pickle): a JSON header (format, n, normalization, benchmarks,
items) and, per gram length, the sorted (hash, item) pairs.
"""
import dataclasses
import hashlib
import json
import pathlib
from typing import Dict, List, Optional, Sequence

import numpy as np

from flan.data import contamination_ngrams as ngrams
from flan.errors import ConfigError, InputError

FORMAT = "flan-contamination-index/1"
FAMILIES = ("mmlu", "bbh", "tydiqa", "mgsm")
# flan-eval's benchmark names read the same items as their family.
_ALIASES = {"mmlu_direct": "mmlu", "mmlu_cot": "mmlu", "bbh_direct": "bbh", "bbh_cot": "bbh",
            "tydiqa_direct": "tydiqa", "mgsm_cot": "mgsm"}


@dataclasses.dataclass(frozen=True)
class EvalItem:
  id: str
  benchmark: str
  subset: str
  text: str


def resolve_benchmarks(spec) -> List[str]:
  """"mmlu,bbh" (or flan-eval names such as mmlu_cot, or "all") -> benchmark families in a fixed order."""
  names = spec.split(",") if isinstance(spec, str) else list(spec)
  chosen = set()
  for name in (n.strip().lower() for n in names if n.strip()):
    if name == "all":
      chosen.update(FAMILIES)
    elif name in FAMILIES or name in _ALIASES:
      chosen.add(_ALIASES.get(name, name))
    else:
      raise ConfigError(f"--benchmarks: unknown benchmark {name!r}; choose from {', '.join(FAMILIES)} or all")
  if not chosen:
    raise ConfigError("--benchmarks: no benchmark selected")
  return [f for f in FAMILIES if f in chosen]


def _mmlu_items(folder) -> List[EvalItem]:
  from flan.evaluation import readers  # pylint: disable=import-outside-toplevel
  items = []
  for subject, splits in readers.read_mmlu(folder).items():
    for index, (question, options, _) in enumerate(splits["test"]):
      items.append(EvalItem(f"mmlu/{subject}/{index}", "mmlu", subject, "\n".join((question,) + tuple(options))))
  return items


def _bbh_items(folder) -> List[EvalItem]:
  from flan.evaluation import readers  # pylint: disable=import-outside-toplevel
  items = []
  for task, data in readers.read_bbh(folder).items():
    for index, (question, _) in enumerate(data["examples"]):
      items.append(EvalItem(f"bbh/{task}/{index}", "bbh", task, question))
  return items


def _tydiqa_items(folder) -> List[EvalItem]:
  from flan.evaluation import readers  # pylint: disable=import-outside-toplevel
  items = []
  for language, rows in readers.read_tydiqa(folder).items():
    for qid, context, question, _ in rows:
      items.append(EvalItem(f"tydiqa/{language}/{qid}", "tydiqa", language, f"{context}\n{question}"))
  return items


def _mgsm_items(folder) -> List[EvalItem]:
  from flan.evaluation import readers  # pylint: disable=import-outside-toplevel
  folder = pathlib.Path(folder)
  files = sorted(folder.glob("mgsm_*.tsv")) if folder.is_dir() else []
  if not files:
    raise readers.EvalDataError(f"no mgsm_<lang>.tsv files in {folder}")
  items = []
  for path in files:
    language = path.stem[len("mgsm_"):]
    for index, (question, _) in enumerate(readers.read_mgsm_tsv(path)):
      items.append(EvalItem(f"mgsm/{language}/{index}", "mgsm", language, question))
  return items


_READERS = {"mmlu": _mmlu_items, "bbh": _bbh_items, "tydiqa": _tydiqa_items, "mgsm": _mgsm_items}


def eval_items(benchmarks: Sequence[str], dirs) -> List[EvalItem]:
  """Items of the benchmark families, read with flan.evaluation.readers; dirs: benchmarks.DataDirs."""
  from flan.evaluation import readers  # pylint: disable=import-outside-toplevel
  items = []
  for family in benchmarks:
    try:
      folder = dirs.folder(family)
      items += _READERS[family](folder)
    except readers.EvalDataError as error:
      raise InputError(str(error)) from error
    except ValueError as error:  # no folder for the family
      raise ConfigError(str(error)) from error
  return items


class Index:
  """N-gram hashes of evaluation items: membership per gram length, and hash -> items."""

  def __init__(self, n: int, items: Sequence[EvalItem], pairs: Dict[int, tuple],
               benchmarks: Sequence[str]):
    self.n = n
    self.items = list(items)
    self.benchmarks = list(benchmarks)
    self._pairs = {}  # length -> (hashes sorted, item indices)
    self.gram_sets = {}
    for length, (hashes, owners) in sorted(pairs.items()):
      order = np.argsort(hashes, kind="stable")
      self._pairs[length] = (np.asarray(hashes, np.uint64)[order], np.asarray(owners, np.int64)[order])
      self.gram_sets[length] = ngrams.GramSet(hashes)
    self.fingerprint = self._fingerprint()

  @classmethod
  def build(cls, items: Sequence[EvalItem], n: int = ngrams.DEFAULT_N,
            benchmarks: Sequence[str] = ()) -> "Index":
    if n < 1:
      raise ConfigError(f"--n must be at least 1, got {n}")
    hasher = ngrams.Hasher()
    collected: Dict[int, tuple] = {}
    for position, item in enumerate(items):
      length, hashes = ngrams.item_grams(hasher, ngrams.tokens(item.text), n)
      if length:
        lists = collected.setdefault(length, ([], []))
        lists[0].append(hashes)
        lists[1].append(np.full(len(hashes), position, np.int64))
    pairs = {length: (np.concatenate(h), np.concatenate(o)) for length, (h, o) in collected.items()}
    return cls(n, items, pairs, benchmarks or sorted({i.benchmark for i in items}))

  def lengths(self) -> List[int]:
    return sorted(self._pairs)

  def contains(self, length: int, hashes: np.ndarray) -> np.ndarray:
    gram_set = self.gram_sets.get(length)
    return np.zeros(len(hashes), bool) if gram_set is None else gram_set.contains(hashes)

  def items_of(self, length: int, gram_hashes: np.ndarray) -> List[List[int]]:
    """For each gram hash: the positions (in self.items) of the items that have it, sorted."""
    hashes, owners = self._pairs.get(length, (np.zeros(0, np.uint64), np.zeros(0, np.int64)))
    values = np.asarray(gram_hashes, np.uint64)
    begins, ends = np.searchsorted(hashes, values, "left"), np.searchsorted(hashes, values, "right")
    return [sorted(set(owners[b:e].tolist())) for b, e in zip(begins.tolist(), ends.tolist())]

  def subset_sizes(self) -> Dict[str, int]:
    """{"benchmark/subset": number of items}."""
    sizes: Dict[str, int] = {}
    for item in self.items:
      key = f"{item.benchmark}/{item.subset}"
      sizes[key] = sizes.get(key, 0) + 1
    return sizes

  def _header(self) -> dict:
    return {"format": FORMAT, "n": self.n, "normalization": ngrams.NORMALIZATION,
            "benchmarks": self.benchmarks, "items": [dataclasses.asdict(i) for i in self.items]}

  def _fingerprint(self) -> str:
    digest = hashlib.blake2b(json.dumps(self._header(), sort_keys=True).encode("utf-8"), digest_size=8)
    for length, (hashes, owners) in sorted(self._pairs.items()):
      digest.update(np.int64(length).tobytes() + hashes.tobytes() + owners.tobytes())
    return digest.hexdigest()

  def save(self, path) -> None:
    arrays = {"header": np.frombuffer(json.dumps(self._header()).encode("utf-8"), np.uint8)}
    for length, (hashes, owners) in self._pairs.items():
      arrays[f"hashes_{length}"], arrays[f"items_{length}"] = hashes, owners
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:  # no half-written index under the final name
      np.savez(f, **arrays)
    partial.replace(path)

  @classmethod
  def load(cls, path) -> "Index":
    path = pathlib.Path(path)
    if not path.is_file():
      raise InputError(f"contamination index {path} does not exist (build one with --index_out)")
    try:
      with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode("utf-8"))
        pairs = {}
        for key in data.files:
          if key.startswith("hashes_"):
            length = int(key[len("hashes_"):])
            pairs[length] = (data[key], data[f"items_{length}"])
    except (OSError, ValueError, KeyError) as error:
      raise InputError(f"{path}: not a contamination index ({error})") from error
    if header.get("format") != FORMAT:
      raise InputError(f"{path}: index format {header.get('format')!r}, expected {FORMAT!r}")
    if header.get("normalization") != ngrams.NORMALIZATION:
      raise InputError(f"{path}: built with normalization {header.get('normalization')!r}; this version uses "
                       f"{ngrams.NORMALIZATION!r}: rebuild it with --index_out")
    items = [EvalItem(**item) for item in header["items"]]
    return cls(int(header["n"]), items, pairs, header["benchmarks"])


def build_or_load(*, index_path: Optional[str], benchmarks, dirs, n: Optional[int]) -> Index:
  """The index of `index_path`, or one built from the benchmark files; a given n must match a loaded index."""
  if index_path:
    index = Index.load(index_path)
    if n is not None and n != index.n:
      raise ConfigError(f"--n {n} differs from the n = {index.n} that {index_path} was built with")
    if benchmarks:
      wanted = resolve_benchmarks(benchmarks)
      if wanted != index.benchmarks:
        raise ConfigError(f"--benchmarks {','.join(wanted)} differs from the benchmarks of {index_path} "
                          f"({','.join(index.benchmarks)})")
    return index
  if not benchmarks:
    raise ConfigError("give --benchmarks (and --data_dir) to build the index, or --index PATH to load one")
  families = resolve_benchmarks(benchmarks)
  return Index.build(eval_items(families, dirs), ngrams.DEFAULT_N if n is None else n, families)
