"""Configuration errors fail before anything is compiled, naming the offending value."""
import gin
import jax
import numpy as np
import pytest

from flan import train as train_cli
from flan import partitioning
from flan import errors, gin_args
from flan.trainer import loop
from tests.trainer_tiny import LENGTHS, tiny_config, write_gin


@pytest.fixture(autouse=True)
def no_compiling(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError("something was compiled before the configuration was checked")
  monkeypatch.setattr(jax, "jit", refuse)
  yield
  gin.clear_config()


def _train(**overrides):
  args = dict(model_dir="/nonexistent/never_written", model_config=tiny_config(), num_steps=2, batch_size=8,
              feature_lengths=LENGTHS, stream=None)
  args.update(overrides)
  return loop.train(**args)


def test_unknown_gin_binding_names_it(tmp_path):
  gin_file = write_gin(tmp_path / "tiny.gin")
  with pytest.raises(errors.ConfigError, match="num_stepz"):
    train_cli.run([gin_file], ["train.num_stepz = 3"])
  with pytest.raises(errors.ConfigError, match="no_such_function"):
    train_cli.run([gin_file], ["no_such_function.x = 3"])


def test_unknown_model_size_names_it(tmp_path):
  gin_file = write_gin(tmp_path / "tiny.gin")
  with pytest.raises(errors.ConfigError, match="'huge'"):
    train_cli.run([gin_file], ["get_config.size = 'huge'", f"train.model_dir = '{tmp_path}'"])


def test_cli_reports_config_error_with_status_2(tmp_path, capsys):
  gin_file = write_gin(tmp_path / "tiny.gin")
  assert train_cli.main([f"--gin_file={gin_file}", "--gin.train.batch_size=6", "--gin.train.mesh_data=4",
                         f"--gin.train.model_dir='{tmp_path}'"]) == 2
  assert "batch_size 6" in capsys.readouterr().err


def test_batch_not_divisible_by_data_parallel_size():
  with pytest.raises(errors.ConfigError, match=r"batch_size 6 .* data-parallel size 4"):
    _train(batch_size=6, mesh_data=4)
  with pytest.raises(errors.ConfigError, match=r"microbatch 2 .* data-parallel size 4"):
    _train(batch_size=8, num_microbatches=4, mesh_data=4)


def test_mesh_larger_than_device_count():
  with pytest.raises(errors.ConfigError, match=r"data=4 fsdp=1 model=4 needs 16 devices but only 8"):
    _train(mesh_data=4, mesh_model=4)
  with pytest.raises(errors.ConfigError, match=r"only one mesh axis may be -1"):
    _train(mesh_data=-1, mesh_model=-1)


def test_other_bad_values():
  with pytest.raises(errors.ConfigError, match="model_dir .* got None"):
    _train(model_dir=None)
  with pytest.raises(errors.ConfigError, match="feature_lengths"):
    _train(feature_lengths={"inputs": 16})
  with pytest.raises(ValueError, match="'cross_entropy'"):
    _train(loss_normalizer="cross_entropy")
  with pytest.raises(errors.ConfigError, match="T5Config"):
    _train(model_config="small")


def _bound(name):
  """A gin binding's value, following macros (%NAME)."""
  value = gin.query_parameter(name)
  while str(value).startswith("%"):
    value = gin.query_parameter(str(value))
  return value


@pytest.mark.parametrize("size,steps", [("small", 98_000), ("base", 84_000), ("large", 64_000), ("xl", 38_000),
                                        ("xxl", 14_000)])
def test_flan_t5_gin_files_hold_the_paper_values(size, steps):
  from flan.models.config import SIZES, get_config  # pylint: disable=import-outside-toplevel
  gin_args.parse_gin(["runs/finetune.gin", f"flan_t5/{size}.gin"], ["MODEL_DIR = '/tmp/x'"],
                          gin_args.default_search_paths())
  assert _bound("train.num_steps") == steps
  assert _bound("train.batch_size") == 64
  assert _bound("train.feature_lengths") == {"inputs": 2048, "targets": 512}
  assert _bound("train.pack") is True
  assert _bound("make_schedule.name") == "constant"
  assert _bound("make_schedule.base_learning_rate") == 5e-4
  config = get_config()
  assert config.dropout_rate == 0.05 and config.emb_dim == SIZES[size]["emb_dim"]


def test_demo_gin_parses():
  gin_args.parse_gin(["local/demo.gin"], ["MODEL_DIR = '/tmp/x'"], gin_args.default_search_paths())
  assert _bound("train.mixture") == "flan_demo"


def test_given_params_must_match_the_model():
  from flan.models import t5  # pylint: disable=import-outside-toplevel
  from flan.trainer import state as state_lib  # pylint: disable=import-outside-toplevel
  model = t5.Transformer(tiny_config())
  params = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype),
                        state_lib.unbox(partitioning.abstract_boxed_params(model)))
  state_lib.check_params_match(params, state_lib.unbox(partitioning.abstract_boxed_params(model)))
  del params["decoder"]["decoder_norm"]
  params["encoder"]["encoder_norm"]["scale"] = np.zeros((3,), np.float32)
  with pytest.raises(ValueError, match=r"missing \[\"\['decoder'\]\['decoder_norm'\]\['scale'\]\"\]"):
    state_lib.check_params_match(params, state_lib.unbox(partitioning.abstract_boxed_params(model)))
  params["decoder"]["decoder_norm"] = {"scale": np.zeros((16,), np.float32)}
  with pytest.raises(ValueError, match=r"encoder_norm.*shape \(3,\), the model expects \(16,\)"):
    state_lib.check_params_match(params, state_lib.unbox(partitioning.abstract_boxed_params(model)))
