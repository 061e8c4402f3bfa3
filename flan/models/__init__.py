"""The T5 network, its configuration, losses and parameter layout (no TensorFlow here)."""
from flan.models.config import SIZES, T5Config, get_config
from flan.models.losses import cross_entropy_loss
from flan.models.t5 import Transformer
