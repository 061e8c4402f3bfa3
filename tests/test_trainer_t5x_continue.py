"""Continuing a T5X run: train.init_optimizer_state restores the Adafactor statistics and count of the T5X init
checkpoint into the trainer's state, and train.step_offset numbers the steps after the T5X step."""
import gin
import jax
import numpy as np

from flan.models import param_names, t5x
from flan.trainer import loop
from tests.test_t5x_optimizer_state import MIN_DIM, STEP, random_statistics, write_checkpoint


def test_finetune_continues_the_t5x_optimizer_state(tmp_path, shared_data):
  config, params = t5x.import_t5x(shared_data / "t5x_checkpoints" / "test_t5_tiny.checkpoint_0")
  flat = {k: np.asarray(v, np.float32) for k, v in param_names.flatten(params).items()}
  states = random_statistics(flat, np.random.default_rng(0), MIN_DIM)
  checkpoint = write_checkpoint(tmp_path / f"checkpoint_{STEP}", flat, states, STEP)
  gin.bind_parameter("make_optimizer.min_dim_size_to_factor", MIN_DIM)
  try:
    common = dict(model_config=config, num_steps=1, batch_size=8, feature_lengths={"inputs": 16, "targets": 8},
                  mesh_data=1, init_checkpoint=str(checkpoint), async_checkpoints=False, stream=None)
    continued = loop.train(model_dir=str(tmp_path / "continued"), init_optimizer_state=True, step_offset=STEP,
                           **common)
    fresh = loop.train(model_dir=str(tmp_path / "fresh"), **common)
  finally:
    gin.clear_config()
  assert continued["step"] == STEP + 1 and fresh["step"] == 1
  assert [p.name for p in (tmp_path / "continued" / "checkpoints").iterdir() if p.name.isdigit()] == [str(STEP + 1)]
  factored = jax.device_get(continued["state"].opt_state[0])
  assert int(factored.count) == STEP + 1  # Adafactor's decay 1 - (t + 1)^-0.8 continues from the T5X step
  # one update later the statistics are decay * stored + (1 - decay) * (new squared-gradient mean)
  decay = 1.0 - (STEP + 1.0) ** -0.8
  name = "encoder/layers_0/mlp/wi_0/kernel"
  v_row = param_names.flatten(factored.v_row)[name]
  assert np.all(v_row >= decay * states[name]["v_row"] * (1 - 1e-6))
  fresh_v_row = param_names.flatten(jax.device_get(fresh["state"].opt_state[0]).v_row)[name]
  np.testing.assert_allclose(v_row, states[name]["v_row"], rtol=1e-3)  # 1 - decay is 1.5e-5 at this step
  assert not np.allclose(fresh_v_row, states[name]["v_row"], rtol=0.1)  # from empty statistics: the gradient
