"""Rematerialization policies of a transformer layer (T5Config.remat), as jax.checkpoint policies.

  none           keep every activation for the backward pass (no remat)
  full           keep only the layer's input; recompute the whole layer in the backward pass
  save_dots      keep every matmul output (projections, feed-forward and the attention logits/outputs)
  save_dense     keep the matmul outputs without batch dimensions (query/key/value/out projections and
                 the feed-forward layers); recompute the attention matrices
  save_qkv       keep the attention query/key/value projections only
  offload_dense  as save_dense, but the kept values wait in host memory (backends with a pinned_host
                 memory space: TPU, GPU)
The gradients are the same under every policy; they trade memory for recomputation.
"""
import jax

from flan.errors import ConfigError
from flan.models.attention import PROJECTION_NAMES
from flan.models.config import REMAT_POLICIES


def _host_offload_supported() -> bool:
  try:
    kinds = {memory.kind for memory in jax.devices()[0].addressable_memories()}
  except (AttributeError, NotImplementedError, RuntimeError):
    return False
  return "pinned_host" in kinds


def checkpoint_policy(name: str):
  """The jax.checkpoint policy of a policy name other than "none" (which has no remat at all)."""
  policies = jax.checkpoint_policies
  if name == "full":
    return policies.nothing_saveable
  if name == "save_dots":
    return policies.dots_saveable
  if name == "save_dense":
    return policies.dots_with_no_batch_dims_saveable
  if name == "save_qkv":
    return policies.save_only_these_names(*PROJECTION_NAMES)
  if name == "offload_dense":
    if not _host_offload_supported():
      raise ConfigError(f"T5Config.remat='offload_dense' needs host memory offload, which the "
                        f"{jax.default_backend()!r} backend lacks; use 'save_dense' or 'full'")
    return policies.offload_dot_with_no_batch_dims("device", "pinned_host")
  raise ConfigError(f"T5Config.remat: unknown policy {name!r}; use one of {REMAT_POLICIES}")
