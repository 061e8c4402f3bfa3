"""flan-convert accepts decoder-only checkpoints: a Llama directory (or a flan decoder checkpoint) is written as a
LlamaForCausalLM directory with its tokenizer files, the same weights."""
import pathlib

import numpy as np

from flan import convert
from flan.models import families, param_names

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "hf_tiny_llama"


def test_llama_directory_converts_with_its_tokenizer(tmp_path):
  out = tmp_path / "export"
  assert convert.main(["--from", str(FIXTURE), "--to_hf", str(out)]) == 0
  assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
  source_config, source = families.load_pretrained_any(FIXTURE)
  config, exported = families.load_pretrained_any(out)
  assert config == source_config
  flat_source, flat_exported = param_names.flatten(source), param_names.flatten(exported)
  assert sorted(flat_source) == sorted(flat_exported)
  for name, value in flat_source.items():
    np.testing.assert_array_equal(value, flat_exported[name], err_msg=name)
