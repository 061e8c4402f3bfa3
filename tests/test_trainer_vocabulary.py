"""The run's vocabulary comes from its mixture and is checked before anything compiles: a mixture without a
configured vocabulary, or a vocabulary with more ids than the model's embedding, is a configuration error
(exit 2) naming what to set."""
import gin
import jax
import pytest

from flan import errors
from flan import train as train_cli
from flan.trainer import data_source, loop  # pylint: disable=unused-import  # imported before jit is refused
from tests.trainer_tiny import tiny_config, write_gin


@pytest.fixture(autouse=True)
def no_compiling(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError("something was compiled before the configuration was checked")
  monkeypatch.setattr(jax, "jit", refuse)
  yield
  gin.clear_config()


def _flan_train(tmp_path, *bindings):
  gin_file = write_gin(tmp_path / "tiny.gin")
  return train_cli.main([f"--gin_file={gin_file}", f"--gin.train.model_dir='{tmp_path / 'run'}'"]
                        + [f"--gin.{binding}" for binding in bindings])


def test_non_demo_mixture_without_a_vocabulary_exits_2_naming_how_to_set_it(tmp_path, monkeypatch, capsys):
  monkeypatch.delenv("FLAN_VOCAB_PATH", raising=False)
  assert _flan_train(tmp_path, "train.mixture='flan2022_cot'") == 2
  err = capsys.readouterr().err
  assert "train.mixture 'flan2022_cot'" in err and "FLAN_VOCAB_PATH" in err and "vocabulary_path.path" in err
  assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_vocabulary_larger_than_the_model_exits_2_naming_both_sizes(tmp_path, monkeypatch, capsys,
                                                                     shared_data):
  monkeypatch.setenv("FLAN_VOCAB_PATH", str(shared_data / "t5_spiece" / "spiece.model"))
  assert _flan_train(tmp_path, "train.mixture='flan2022_cot'") == 2  # tiny model: vocab_size 64
  err = capsys.readouterr().err
  assert "32100 token ids" in err and "vocab_size is 64" in err and "Traceback" not in err


def test_unknown_mixture_names_the_closest(tmp_path, capsys):
  assert _flan_train(tmp_path, "train.mixture='flan_dem'") == 2
  err = capsys.readouterr().err
  assert "train.mixture" in err and "flan_demo" in err


def test_demo_mixture_needs_no_configured_vocabulary(monkeypatch, tmp_path):
  monkeypatch.delenv("FLAN_VOCAB_PATH", raising=False)
  monkeypatch.setenv("FLAN_CACHE_DIR", str(tmp_path))
  source = data_source.resolve("flan_demo", model_vocab_size=1152)
  assert source.vocabulary_file.startswith(str(tmp_path)) and 400 < source.vocabulary_size <= 1100
  with pytest.raises(errors.ConfigError, match="vocab_size is 64"):
    data_source.resolve("flan_demo", model_vocab_size=64)
  assert tiny_config().vocab_size == 64
