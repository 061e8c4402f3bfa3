"""flan.trainer.prefetch: same batches in the same order, exact resume of a checkpoint taken while batches
wait in the queue, clean stop, errors and the consumer's wait time."""
import threading
import time

import numpy as np
import pytest

from flan.trainer.prefetch import Prefetcher
from flan.trainer.synthetic import SyntheticBatches

LENGTHS = {"inputs": 16, "targets": 8}


def synthetic(seed=0):
  return SyntheticBatches(batch_size=2, feature_lengths=LENGTHS, vocab_size=100, seed=seed)


def assert_same_batches(got, want):
  assert len(got) == len(want)
  for a, b in zip(got, want):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def wait_until(condition, timeout=10.0):
  deadline = time.monotonic() + timeout
  while not condition():
    if time.monotonic() > deadline:
      raise AssertionError("timed out waiting for the prefetch thread")
    time.sleep(0.01)


@pytest.mark.parametrize("buffer_size", [1, 3])
def test_same_batches_in_the_same_order(buffer_size):
  plain = synthetic()
  want = [next(plain) for _ in range(7)]
  with Prefetcher(synthetic(), buffer_size=buffer_size) as prefetched:
    got = [next(prefetched) for _ in range(7)]
  assert_same_batches(got, want)


def test_checkpoint_while_batches_are_prefetched_resumes_exactly():
  plain = synthetic()
  want = [next(plain) for _ in range(8)]
  inner = synthetic()
  prefetched = Prefetcher(inner, buffer_size=3)
  assert_same_batches([next(prefetched) for _ in range(3)], want[:3])
  wait_until(lambda: inner.batches_read >= 6)  # the thread has read three or four batches ahead
  state = prefetched.get_state()
  assert state == {"batches_read": 3, "seed": 0, "shard_index": 0}
  prefetched.close()
  resumed = Prefetcher(synthetic())
  resumed.set_state(state)
  assert_same_batches([next(resumed) for _ in range(5)], want[3:])
  # set_state on a running prefetcher drops what it read ahead.
  wait_until(lambda: resumed.iterator.batches_read >= 9)
  resumed.set_state({"batches_read": 4, "seed": 0, "shard_index": 0})
  assert_same_batches([next(resumed)], want[4:5])
  resumed.close()


class CountingIterator:
  """Numbered batches with stats, a `close` record and an optional delay or failure."""

  def __init__(self, count=None, delay=0.0, fail_at=None):
    self.position, self.count, self.delay, self.fail_at = 0, count, delay, fail_at
    self.closed = False
    self.reader_threads = set()

  def __next__(self):
    self.reader_threads.add(threading.get_ident())
    if self.fail_at is not None and self.position == self.fail_at:
      raise RuntimeError(f"bad record at {self.position}")
    if self.count is not None and self.position >= self.count:
      raise StopIteration
    time.sleep(self.delay)
    self.position += 1
    return {"index": np.array([self.position - 1])}

  def get_state(self):
    return {"position": self.position}

  def set_state(self, state):
    self.position = state["position"]

  def stats(self):
    return {"batches": self.position}

  def close(self):
    self.closed = True


def test_stats_follow_the_consumer_and_the_end_of_the_stream():
  inner = CountingIterator(count=4)
  prefetched = Prefetcher(inner, buffer_size=2)
  assert prefetched.stats() == {"batches": 0}
  assert int(next(prefetched)["index"][0]) == 0
  wait_until(lambda: inner.position >= 3)
  assert prefetched.stats() == {"batches": 1} and prefetched.get_state() == {"position": 1}
  assert [int(b["index"][0]) for b in prefetched] == [1, 2, 3]
  assert threading.get_ident() not in inner.reader_threads
  prefetched.close()
  assert inner.closed


def test_errors_reach_the_consumer_after_the_good_batches():
  prefetched = Prefetcher(CountingIterator(fail_at=2))
  assert [int(next(prefetched)["index"][0]) for _ in range(2)] == [0, 1]
  with pytest.raises(RuntimeError, match="bad record at 2"):
    next(prefetched)
  with pytest.raises(StopIteration):
    next(prefetched)
  prefetched.close()


def test_close_stops_the_thread_even_when_the_queue_is_full():
  prefetched = Prefetcher(CountingIterator(), buffer_size=1)
  next(prefetched)
  thread = prefetched._thread  # pylint: disable=protected-access
  wait_until(lambda: prefetched.iterator.position >= 3)  # one queued, one waiting to be put
  prefetched.close()
  assert not thread.is_alive() and prefetched.iterator.closed
  with pytest.raises(StopIteration):
    next(prefetched)


def test_wait_time_is_measured():
  slow = Prefetcher(CountingIterator(delay=0.2), buffer_size=1)
  next(slow)
  assert slow.wait_seconds() >= 0.15
  assert slow.wait_seconds() == 0.0  # reported once
  slow.close()
  fast = Prefetcher(CountingIterator(), buffer_size=2)
  next(fast)
  fast.wait_seconds()
  wait_until(lambda: fast.iterator.position >= 3)  # the next batches are ready before they are asked for
  next(fast)
  assert fast.wait_seconds() < 0.05
  fast.close()


def test_bad_buffer_size():
  with pytest.raises(ValueError, match="buffer_size must be an int >= 1"):
    Prefetcher(synthetic(), buffer_size=0)


def test_real_batch_iterator_resumes_exactly():
  pytest.importorskip("seqio")
  tf = pytest.importorskip("tensorflow")
  import seqio  # pylint: disable=import-outside-toplevel
  from flan.data import batches  # pylint: disable=import-outside-toplevel
  name = "test_prefetch_numbers"
  if name not in seqio.TaskRegistry.names():
    vocab = seqio.PassThroughVocabulary(size=500)
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            lambda split, shuffle_files, seed=None: tf.data.Dataset.from_tensor_slices({
                "inputs": tf.ragged.constant([[i + 2, 7, 8] for i in range(60)], dtype=tf.int32),
                "targets": tf.ragged.constant([[i + 2, 9] for i in range(60)], dtype=tf.int32)}),
            splits=["train"], num_input_examples={"train": 60}),
        output_features={"inputs": seqio.Feature(vocab, add_eos=False),
                         "targets": seqio.Feature(vocab, add_eos=False)},
        preprocessors=[], shuffle_buffer_size=100)
  make = lambda: batches.make_batch_iterator(name, feature_lengths={"inputs": 8, "targets": 4}, batch_size=2,
                                             seed=1, shard_index=0, num_shards=1, chunk_size=16)
  plain = make()
  want = [next(plain) for _ in range(6)]
  plain.close()
  prefetched = Prefetcher(make(), buffer_size=2)
  assert_same_batches([next(prefetched) for _ in range(2)], want[:2])
  time.sleep(0.5)  # let the thread read ahead
  state = prefetched.get_state()
  prefetched.close()
  assert prefetched.iterator.get_state() != state  # the thread had read ahead
  resumed = Prefetcher(make())
  resumed.set_state(state)
  assert_same_batches([next(resumed) for _ in range(4)], want[2:])
  resumed.close()
