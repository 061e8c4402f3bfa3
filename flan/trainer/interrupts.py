"""Stopping a training run cleanly: SIGTERM (preemption) and SIGINT (Ctrl-C) are recorded, and the loop
saves a checkpoint at the next step boundary and ends.

  with StopSignals() as stop:
    while ...:
      ...one step...
      if stop.agreed(step):
        save(); break
  exit status: stop.exit_status (0 after SIGTERM, 130 after Ctrl-C)

A second Ctrl-C aborts at once (KeyboardInterrupt, no checkpoint). Handlers are installed only in the main
thread (elsewhere Python refuses them, and a signal then ends the process as usual).
"""
import os
import signal

import jax
import numpy as np

from flan.errors import EXIT_INTERRUPTED

HANDLED = (signal.SIGTERM, signal.SIGINT)
EXIT_STATUS = {"SIGTERM": 0, "SIGINT": EXIT_INTERRUPTED}


class StopSignals:
  """Records the first SIGTERM or SIGINT (`requested`, `signal_name`); `agreed` tells the loop when to stop."""

  def __init__(self, *, announce=True):
    self.requested = False
    self.signal_name = None  # "SIGTERM" or "SIGINT": the first signal received (by any process, once agreed)
    self.announce = announce
    self._previous = {}

  def __enter__(self):
    for signum in HANDLED:
      try:
        self._previous[signum] = signal.signal(signum, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    name = signal.Signals(signum).name
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt  # the second Ctrl-C: abort now, without a checkpoint
    if self.requested:
      return
    self.requested = True
    self.signal_name = name
    if self.announce:
      # os.write: print() from a signal handler can collide with a print in progress on the same stream
      what = "Ctrl-C" if signum == signal.SIGINT else name
      os.write(2, f"{what} received: saving a checkpoint after this step, then exiting"
                  f"{' (Ctrl-C again aborts at once)' if signum == signal.SIGINT else ''}\n".encode())

  @property
  def exit_status(self):
    """The process exit status for a run stopped by the recorded signal (0 when none was received)."""
    return EXIT_STATUS.get(self.signal_name, 0)

  def agreed(self, step, every=10):
    """Whether to stop after step `step`. With several processes every one must stop at the same step (the
    save is collective), so they compare flags every `every` steps; that briefly waits for the device.
    A process that received no signal itself takes the signal name another one received."""
    if jax.process_count() == 1:
      return self.requested
    if step % every:
      return False
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    local = {None: 0, "SIGINT": int(signal.SIGINT), "SIGTERM": int(signal.SIGTERM)}[self.signal_name]
    received = np.asarray(multihost_utils.process_allgather(np.array([local], np.int32))).reshape(-1)
    received = [int(code) for code in received if code]
    if not received:
      return False
    if self.signal_name is None:
      self.signal_name = signal.Signals(min(received)).name  # SIGINT (2) before SIGTERM (15)
    self.requested = True
    return True

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, signal.SIG_DFL if previous is None else previous)
    self._previous = {}
