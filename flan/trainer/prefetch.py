"""Input prefetch: the next batches are prepared in a background thread while the device runs the step.

`Prefetcher(iterator, buffer_size=2, transform=None)` wraps any BatchIterator (`__next__`, `get_state`,
`set_state`; optionally `stats`, `reshard_state`, `close`). A worker thread reads ahead into a bounded
queue (at most `buffer_size` batches, `transform` applied there, e.g. the host-to-device copy). After
each batch it records the inner iterator's state and stats, so that the wrapper's `get_state()` is the
position of the next batch the consumer will receive, not of what the thread has read: a checkpoint
taken while batches wait in the queue resumes with exactly those batches. `set_state` stops the thread,
drops the queue and repositions the inner iterator; `close` stops the thread and closes the inner
iterator (also at interpreter exit). `wait_seconds()` reports how long the consumer waited for data.
Only the worker thread touches the inner iterator while it runs.
"""
import atexit
import copy
import queue
import threading
import time
import weakref
from typing import Any, Callable, Optional

_LIVE = weakref.WeakSet()
_END = object()  # the inner iterator is exhausted


@atexit.register
def _stop_live_prefetchers():
  # Registered after flan.data's own hook when this module is imported later, so it runs first:
  # the threads stop before their input pipelines are closed.
  for prefetcher in list(_LIVE):
    prefetcher.close()


class _Failure:
  def __init__(self, error: BaseException):
    self.error = error


class Prefetcher:
  """Iterator of the same batches as `iterator`, in the same order, read ahead in a thread."""

  def __init__(self, iterator, buffer_size: int = 2, transform: Optional[Callable[[Any], Any]] = None):
    if not isinstance(buffer_size, int) or isinstance(buffer_size, bool) or buffer_size < 1:
      raise ValueError(f"prefetch buffer_size must be an int >= 1, got {buffer_size!r}")
    self.iterator = iterator
    self.buffer_size = buffer_size
    self.transform = transform
    self._queue: Optional[queue.Queue] = None
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None
    self._state = copy.deepcopy(iterator.get_state())
    self._stats = self._read_stats()
    self._ended = False
    self._closed = False
    self._total_wait = 0.0
    self._unreported_wait = 0.0
    self._batches = 0
    _LIVE.add(self)

  # -------------------------------------------------------------------------------- the worker

  def _read_stats(self):
    stats = getattr(self.iterator, "stats", None)
    return copy.deepcopy(stats()) if stats is not None else None

  def _work(self, out: queue.Queue, stop: threading.Event):
    while not stop.is_set():
      try:
        batch = next(self.iterator)
      except StopIteration:
        item = _END
      except BaseException as error:  # pylint: disable=broad-except  (re-raised in the consumer)
        item = _Failure(error)
      else:
        try:
          if self.transform is not None:
            batch = self.transform(batch)
          item = (batch, copy.deepcopy(self.iterator.get_state()), self._read_stats())
        except BaseException as error:  # pylint: disable=broad-except
          item = _Failure(error)
      while not stop.is_set():
        try:
          out.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      if item is _END or isinstance(item, _Failure):
        return

  def _start(self):
    self._stop = threading.Event()
    self._queue = queue.Queue(maxsize=self.buffer_size)
    self._thread = threading.Thread(target=self._work, args=(self._queue, self._stop),
                                    name="flan-prefetch", daemon=True)
    self._thread.start()

  def _halt(self):
    """Stops the worker and drops what it read ahead (the inner iterator is then ahead of get_state())."""
    if self._thread is None:
      return
    self._stop.set()
    while self._thread.is_alive():
      try:  # unblock a worker waiting to put
        self._queue.get_nowait()
      except queue.Empty:
        pass
      self._thread.join(timeout=0.05)
    self._thread = None
    self._queue = None

  # ------------------------------------------------------------------------------ the consumer

  def __iter__(self):
    return self

  def __next__(self):
    if self._closed or self._ended:
      raise StopIteration
    if self._thread is None:
      self._start()
    started = time.perf_counter()
    item = self._queue.get()
    waited = time.perf_counter() - started
    self._total_wait += waited
    self._unreported_wait += waited
    if item is _END:
      self._ended = True
      self._halt()
      raise StopIteration
    if isinstance(item, _Failure):
      self._ended = True
      self._halt()
      raise item.error
    batch, self._state, self._stats = item
    self._batches += 1
    return batch

  def get_state(self):
    """The inner iterator's state at the next batch this wrapper will return."""
    return copy.deepcopy(self._state)

  def set_state(self, state) -> None:
    self._halt()
    self.iterator.set_state(state)
    self._state = copy.deepcopy(self.iterator.get_state())
    self._stats = self._read_stats()
    self._ended = False
    self._closed = False

  def reshard_state(self, saved_states):
    return self.iterator.reshard_state(saved_states)

  def stats(self):
    """The inner iterator's stats as of the last batch returned (None if it has no stats())."""
    return copy.deepcopy(self._stats)

  def wait_seconds(self) -> float:
    """Seconds the consumer waited for data since the previous call (0 when batches were ready)."""
    waited, self._unreported_wait = self._unreported_wait, 0.0
    return waited

  @property
  def total_wait_seconds(self) -> float:
    return self._total_wait

  def close(self) -> None:
    """Stops the worker and closes the inner iterator; next() then raises StopIteration (until set_state)."""
    if self._closed:
      return
    self._closed = True
    self._halt()
    close = getattr(self.iterator, "close", None)
    if close is not None:
      close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
