"""flan-eval: the paper's held-out benchmarks for a checkpoint, or for predictions made elsewhere.

  flan-eval --gin_file=gin/runs/eval.gin --data_dir=DATA --checkpoint=CKPT --output_dir=OUT
  flan-eval --data_dir=DATA --benchmarks=mmlu,bbh --export_prompts=PROMPTS       (writes prompts, no model)
  flan-eval --data_dir=DATA --predictions=PRED.jsonl --output_dir=OUT            (scores {"id","prediction"})

Exported prompt files are also flan-infer input files ("inputs" = the prompt), and flan-infer's outputs are
prediction files (--predictions takes several, comma-separated).

Every flag is also a gin binding of `evaluate` (e.g. --gin.evaluate.mmlu_dir='"/data/mmlu"' or
--gin evaluate.top_k=0); flags given on the command line override the gin files.

The setup defaults to the paper's (flan/evaluation/setups.py): MMLU 5-shot on the test split
(--mmlu_split=validation is what Table 5 used), BBH 3-shot, TyDiQA 1-shot over the 8 non-English languages,
MGSM 8-shot over the 10 translated languages, greedy decoding; results.json records the setup and every
difference from the paper's. --compare_to=flan-t5-xl puts the paper's Table 5 numbers beside the scores in
OUT/report.html and OUT/report.png.
"""
import argparse
import dataclasses
import pathlib
import sys
from typing import Any, Optional

import gin

from flan import errors
from flan import gin_args
from flan import host_memory
from flan.evaluation import benchmarks as benchmarks_lib
from flan.evaluation import paper_results
from flan.evaluation import report
from flan.evaluation import report_html
from flan.evaluation import runner
from flan.evaluation import setups

# Flag name -> type; each is the gin parameter evaluate.<name>.
FLAG_TYPES = {
    "benchmarks": str, "data_dir": str, "mmlu_dir": str, "bbh_dir": str, "tydiqa_dir": str, "mgsm_dir": str,
    "mmlu_cot_prompts": str, "mgsm_exemplars": str, "checkpoint": str, "spiece_model": str,
    "predictions": str, "output_dir": str, "export_prompts": str, "model_name": str,
    "max_per_subset": int, "num_samples": int, "batch_size": int, "method": str,
    "direct_decode_length": int, "cot_decode_length": int, "max_input_length": int,
    "temperature": float, "top_k": int, "top_p": float, "beam_size": int, "model_parallel": int,
    "mmlu_split": str, "mgsm_languages": str, "tydiqa_languages": str, "compare_to": str,
}


def _checkpoint_predictor(checkpoint, spiece_model, *, method, batch_size, direct_decode_length,
                          cot_decode_length, max_input_length, temperature, top_k, top_p, beam_size,
                          model_parallel):
  """predictor(prompts, benchmark, sample_index) decoding with the checkpoint's model (T5 or decoder-only:
  flan.models.families; a Llama directory brings its own tokenizer, a T5 one its spiece.model or --spiece_model)."""
  from flan import partitioning  # pylint: disable=import-outside-toplevel
  from flan.models import families  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel

  config, params, tokenizer = families.load_model_any(checkpoint, spiece_model)
  mesh = None
  if model_parallel:  # shard over all devices: batch over "data", weights over "model"
    mesh = partitioning.make_mesh(data=-1, model=model_parallel)
    partitioning.check_batch_size(batch_size, mesh)
    print(f"decoding on mesh {dict(mesh.shape)} ({jax.device_count()} devices)", file=sys.stderr)
  # on the device(s) once, not per batch
  params = partitioning.place_params(params, families.model_for(config), mesh)

  truncated = {}

  def predictor(prompts, benchmark, sample_index):
    length = cot_decode_length if benchmark in benchmarks_lib.CHAIN_OF_THOUGHT else direct_decode_length
    if sample_index in (None, 0) and max_input_length:
      over = sum(len(ids) + 1 > max_input_length for ids in tokenizer.encode_batch(prompts))  # + EOS
      if over:
        truncated[benchmark] = truncated.get(benchmark, 0) + over
        print(f"[{benchmark}] {over} of {len(prompts)} prompts longer than --max_input_length="
              f"{max_input_length} tokens: their oldest tokens are cut", file=sys.stderr)
    if sample_index is None:
      options = {"method": method, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                 "beam_size": beam_size}
    else:  # Self-consistency: one sampled chain of thought per round, a different seed each round.
      options = {"method": "sample", "temperature": temperature, "top_k": top_k, "top_p": top_p,
                 "seed": sample_index}
    return families.predict_texts_any(config, params, tokenizer, prompts, max_decode_length=length,
                                      batch_size=batch_size, max_input_length=max_input_length, mesh=mesh,
                                      **options)

  predictor.truncated = truncated
  return predictor


@gin.configurable("evaluate")
@dataclasses.dataclass(frozen=True)
class EvalSettings:
  """flan-eval's settings: gin parameters evaluate.NAME, each also the flag --NAME."""
  benchmarks: str = "all"
  data_dir: Optional[str] = None
  mmlu_dir: Optional[str] = None
  bbh_dir: Optional[str] = None
  tydiqa_dir: Optional[str] = None
  mgsm_dir: Optional[str] = None
  mmlu_cot_prompts: Optional[str] = None
  mgsm_exemplars: Optional[str] = None
  checkpoint: Optional[str] = None
  spiece_model: Optional[str] = None
  predictions: Optional[str] = None
  output_dir: Optional[str] = None
  export_prompts: Optional[str] = None
  model_name: Optional[str] = None
  max_per_subset: Optional[int] = None
  num_samples: int = 1
  batch_size: int = 8
  method: str = "greedy"
  direct_decode_length: int = 64
  cot_decode_length: int = 256
  max_input_length: int = 2048
  temperature: float = 0.7
  top_k: int = 40
  top_p: float = 1.0
  beam_size: int = 4
  model_parallel: int = 0
  random_scores: Any = None
  mmlu_split: str = "test"
  mgsm_languages: Any = None
  tydiqa_languages: Any = None
  compare_to: Optional[str] = None


def evaluate(**overrides):
  """Builds the prompts and exports, decodes or scores them; returns the results dict (or None).

  Takes the gin settings (EvalSettings), overridden by keyword arguments of the same names.
  """
  names = {field.name for field in dataclasses.fields(EvalSettings)}
  unknown = sorted(set(overrides) - names)
  if unknown:
    raise TypeError(f"evaluate() got unknown settings {unknown}")
  return _evaluate(**dataclasses.asdict(EvalSettings(**overrides)))


def _evaluate(benchmarks, data_dir, mmlu_dir, bbh_dir, tydiqa_dir, mgsm_dir, mmlu_cot_prompts, mgsm_exemplars,
              checkpoint, spiece_model, predictions, output_dir, export_prompts, model_name, max_per_subset,
              num_samples, batch_size, method, direct_decode_length, cot_decode_length, max_input_length,
              temperature, top_k, top_p, beam_size, model_parallel, random_scores, mmlu_split, mgsm_languages,
              tydiqa_languages, compare_to):
  names = benchmarks_lib.resolve_names(benchmarks)
  setup = setups.EvalSetup.from_flags(mmlu_split, mgsm_languages, tydiqa_languages)
  if compare_to is not None:
    paper_results.lookup(compare_to)  # an unknown name fails before any decoding
  dirs = benchmarks_lib.DataDirs(
      data_dir=data_dir, mmlu_dir=mmlu_dir, bbh_dir=bbh_dir, tydiqa_dir=tydiqa_dir, mgsm_dir=mgsm_dir,
      mmlu_cot_prompts=mmlu_cot_prompts, mgsm_exemplars=mgsm_exemplars)
  if export_prompts:
    collected = runner.collect_examples(names, dirs, max_per_subset, setup)
    for path in runner.export_prompts(collected, export_prompts):
      print(f"wrote {path}", file=sys.stderr)
  if checkpoint is None and predictions is None:
    if export_prompts:
      return None
    raise errors.ConfigError("nothing to evaluate: pass --checkpoint, --predictions or --export_prompts")
  if checkpoint is not None and predictions is not None:
    raise errors.ConfigError("pass either --checkpoint or --predictions, not both")
  if not output_dir:
    raise errors.ConfigError("--output_dir is required to write results")
  predictor, decoding = None, None
  if checkpoint is not None:
    predictor = _checkpoint_predictor(
        checkpoint, spiece_model, method=method, batch_size=batch_size,
        direct_decode_length=direct_decode_length, cot_decode_length=cot_decode_length,
        max_input_length=max_input_length, temperature=temperature, top_k=top_k, top_p=top_p,
        beam_size=beam_size, model_parallel=model_parallel)
    decoding = {"method": method, "direct_decode_length": direct_decode_length,
                "cot_decode_length": cot_decode_length, "max_input_length": max_input_length,
                "self_consistency_samples": num_samples}
    if method == "sample" or num_samples > 1:
      decoding.update(temperature=temperature, top_k=top_k, top_p=top_p)
    if method == "beam":
      decoding["beam_size"] = beam_size
  results, records = runner.run(names, dirs, predictor=predictor, predictions_path=predictions,
                                num_samples=num_samples, max_per_subset=max_per_subset,
                                random_overrides=random_scores, chunk_size=max(batch_size * 8, 64),
                                setup=setup, decoding=decoding)
  if predictor is not None:
    for name, count in predictor.truncated.items():
      if name in results["setup"]:
        results["setup"][name]["prompts_truncated"] = count
  name = model_name or checkpoint or pathlib.Path(predictions.split(",")[0]).stem
  for path in report.write_results(results, records, output_dir, name):
    print(f"wrote {path}", file=sys.stderr)
  for path in report_html.write_report(results, output_dir, name, compare_to=compare_to):
    print(f"wrote {path}", file=sys.stderr)
  print(report.markdown_table(results, name).split("\n\n")[0])
  return results


def parse_args(argv):
  parser = argparse.ArgumentParser(prog="flan-eval", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  for flag, flag_type in FLAG_TYPES.items():
    parser.add_argument(f"--{flag}", type=flag_type, default=None, help=f"evaluate.{flag}")
  return parser.parse_args(argv)


def _run(argv):
  gin_files, bindings, search_paths, rest = gin_args.split_gin_args(argv)
  args = parse_args(rest)
  gin.clear_config()
  gin_args.parse_gin(gin_files, bindings, (search_paths + gin_args.default_search_paths()) if search_paths
                     else None)
  for flag in FLAG_TYPES:
    value = getattr(args, flag)
    if value is not None:
      gin.bind_parameter(f"evaluate.{flag}", value)
  evaluate()  # pylint: disable=no-value-for-parameter
  return 0


def main(argv=None):
  if argv is None:
    host_memory.restart_with_huge_pages("flan.evaluation.cli", sys.argv[1:])
  return errors.run_command("flan-eval", _run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
  sys.exit(main())
