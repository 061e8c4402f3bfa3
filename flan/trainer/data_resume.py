"""Where the data stream continues after a restore, also when the checkpoint was written by another number
of processes (each process saved its own shard's position).

Same process count: this process takes the position its shard saved. Another count: an iterator that can
map the saved positions exactly onto its own shard offers `reshard_state(saved_states)` (the synthetic
source does: its batches are seeded by global row, so the position is one global batch counter); any other
iterator (e.g. flan.data's BatchIterator, whose shards read different examples) stops the restore with an
error, unless the run accepts restarting the data stream from a freshly seeded position.
"""
import logging
import warnings

import numpy as np

from flan import errors

log = logging.getLogger(__name__)
RESTART_FLAG = "train.data_restart_on_topology_change"


class TopologyChangeError(errors.ConfigError):
  """The checkpoint's data position cannot be carried over to this run's number of processes."""


def restart_seed(data_seed, step):
  """The data seed of a stream restarted at `step`: differs from data_seed, so the restarted stream does
  not replay the batches the run began with, and is the same on every process and every retry."""
  return int(np.random.SeedSequence([int(data_seed), int(step)]).generate_state(1)[0] >> 1)


def state_for_this_process(iterator, saved_states, *, process_index, process_count, step, allow_restart):
  """The state to pass to `iterator.set_state`, or None when the stream must restart from a fresh seed
  (only with allow_restart; a warning says so). Raises TopologyChangeError when the position cannot be
  carried over and allow_restart is False."""
  saved_count = len(saved_states)
  if saved_count == process_count:
    return saved_states[process_index]
  reshard = getattr(iterator, "reshard_state", None)
  if reshard is not None:
    return reshard(saved_states)
  what = (f"checkpoint step {step} was written by {saved_count} processes, this run has {process_count}; "
          f"{type(iterator).__name__} cannot map the {saved_count} per-process data positions onto "
          f"{process_count} shards exactly")
  if not allow_restart:
    raise TopologyChangeError(
        f"{what}. Resume with {saved_count} processes to continue the data stream exactly, or set "
        f"{RESTART_FLAG}=True to restart the data stream from a freshly seeded position (examples already "
        "trained on may be seen again, others skipped)")
  message = (f"{what}; {RESTART_FLAG}=True: the data stream restarts from a freshly seeded position "
             "(examples already trained on may be seen again, others skipped)")
  log.warning(message)
  warnings.warn(message, RuntimeWarning, stacklevel=2)
  return None
