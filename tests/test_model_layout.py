"""scan_params / unscan_params between the T5X layout (layers_{i}) and the scanned one."""
import flax.linen as nn
import jax
import numpy as np
import pytest

from flan.models.layout import scan_params, unscan_params
from model_tiny import boxed_shapes, random_params, tiny


def test_round_trip_is_exact_and_stacks_in_layer_order():
  cfg = tiny(num_encoder_layers=3, scan_layers=True)
  params = random_params(tiny(num_encoder_layers=3))
  scanned = scan_params(params, cfg)
  assert "layers_0" not in scanned["encoder"]
  query = scanned["encoder"]["layers"]["attention"]["query"]["kernel"]
  assert query.shape == (3, 32, 32)
  np.testing.assert_array_equal(query[2], params["encoder"]["layers_2"]["attention"]["query"]["kernel"])
  # the scanned tree is exactly what the scanned model creates.
  assert (jax.tree_util.tree_map(np.shape, scanned)
          == jax.tree_util.tree_map(np.shape, nn.unbox(boxed_shapes(cfg))))
  back = unscan_params(scanned, cfg)
  assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, back, params)


def test_boxed_params_keep_logical_names():
  cfg = tiny()
  boxed = jax.tree_util.tree_map(lambda box, value: box.replace(value=value), boxed_shapes(cfg),
                                 random_params(cfg), is_leaf=lambda x: isinstance(x, nn.Partitioned))
  scanned = scan_params(boxed, cfg)
  box = scanned["decoder"]["layers"]["mlp"]["wo"]["kernel"]
  assert box.names == ("layers", "mlp", "embed") and box.value.shape == (2, 64, 32)
  back = unscan_params(scanned, cfg)["decoder"]["layers_1"]["mlp"]["wo"]["kernel"]
  assert back.names == ("mlp", "embed") and back.value.shape == (64, 32)


def test_errors_name_the_problem():
  cfg = tiny()
  params = random_params(cfg)
  with pytest.raises(ValueError, match="params lack encoder/layers_2 .config has 3 encoder"):
    scan_params(params, tiny(num_encoder_layers=3))
  with pytest.raises(ValueError, match="decoder/layers_1 beyond the config's 1 decoder"):
    scan_params(params, tiny(num_decoder_layers=1))
  scanned = scan_params(params, cfg)
  with pytest.raises(ValueError, match="these params are scanned"):
    scan_params(scanned, cfg)
  with pytest.raises(ValueError, match="not scanned"):
    unscan_params(params, cfg)
  with pytest.raises(ValueError, match=r"encoder/layers/attention/key/kernel has shape "
                     r"\(2, 32, 32\), expected a leading "
                     "axis of 3 layers"):
    unscan_params(scanned, tiny(num_encoder_layers=3))
