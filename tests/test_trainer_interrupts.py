"""flan.trainer.interrupts.StopSignals: the first SIGTERM or SIGINT is recorded for the loop, a second
Ctrl-C aborts at once, and the previous handlers come back afterwards."""
import os
import signal

import pytest

from flan.errors import EXIT_INTERRUPTED
from flan.trainer.interrupts import StopSignals


def _send(signum):
  os.kill(os.getpid(), signum)  # Python runs the handler before the next bytecode of this thread


def test_sigterm_is_recorded_and_exits_zero(capfd):
  before = signal.getsignal(signal.SIGTERM)
  with StopSignals() as stop:
    assert not stop.agreed(1) and stop.signal_name is None and stop.exit_status == 0
    _send(signal.SIGTERM)
    _send(signal.SIGTERM)  # a repeated SIGTERM changes nothing
    assert stop.requested and stop.agreed(2) and stop.signal_name == "SIGTERM" and stop.exit_status == 0
  assert signal.getsignal(signal.SIGTERM) is before
  assert "SIGTERM received: saving a checkpoint after this step" in capfd.readouterr().err


def test_first_ctrl_c_is_recorded_and_the_second_aborts(capfd):
  before = signal.getsignal(signal.SIGINT)
  with StopSignals() as stop:
    _send(signal.SIGINT)
    assert stop.agreed(3) and stop.signal_name == "SIGINT" and stop.exit_status == EXIT_INTERRUPTED == 130
    with pytest.raises(KeyboardInterrupt):
      _send(signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is before
  assert "Ctrl-C again aborts at once" in capfd.readouterr().err
