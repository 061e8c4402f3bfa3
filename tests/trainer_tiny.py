"""Shared tiny setup for the trainer tests (imported by tests/test_trainer_*.py)."""
from flan.models.config import get_config

LENGTHS = {"inputs": 16, "targets": 16}


def tiny_config(**overrides):
  """Float32, 1+1 layers (compiles fast); heads, mlp and vocab divide by a model axis of 4."""
  fields = dict(vocab_size=64, emb_dim=16, mlp_dim=32, num_heads=4, head_dim=4, num_encoder_layers=1,
                num_decoder_layers=1, dtype="float32")
  fields.update(overrides)
  return get_config("tiny", **fields)


GIN = """
import flan.models.config
import flan.trainer.loop
train.model_config = @get_config()
train.mixture = 'synthetic'
train.batch_size = 8
train.num_steps = {num_steps}
train.feature_lengths = {{'inputs': 16, 'targets': 16}}
train.mesh_data = 1
train.checkpoint_every = {checkpoint_every}
train.keep_checkpoints = 10
train.log_every = 1
get_config.size = 'tiny'
get_config.vocab_size = 64
get_config.emb_dim = 16
get_config.mlp_dim = 32
get_config.num_heads = 4
get_config.head_dim = 4
get_config.num_encoder_layers = 1
get_config.num_decoder_layers = 1
get_config.dtype = 'float32'
get_config.dropout_rate = 0.1
make_schedule.base_learning_rate = 0.01
"""


def write_gin(path, num_steps=6, checkpoint_every=2):
  path.write_text(GIN.format(num_steps=num_steps, checkpoint_every=checkpoint_every))
  return str(path)
