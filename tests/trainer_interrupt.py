"""Runs flan-train in this process and sends the process a signal when the synthetic data source is asked
for a given batch; every batch request is appended to a log as "<pid> <batch index>".

usage: python tests/trainer_interrupt.py SIGNAL|none BATCH_INDEX LOG_FILE FLAN_TRAIN_ARGS...
"""
import os
import signal
import sys

from flan import train
from flan.trainer import synthetic


def main():
  signal_name, at_batch, log_path, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
  original_next = synthetic.SyntheticBatches.__next__

  def next_batch(self):
    with open(log_path, "a", encoding="utf-8") as log:
      log.write(f"{os.getpid()} {self.batches_read}\n")
    if signal_name != "none" and self.batches_read == at_batch:
      os.kill(os.getpid(), getattr(signal, signal_name))
    return original_next(self)

  synthetic.SyntheticBatches.__next__ = next_batch
  sys.exit(train.main(args))


if __name__ == "__main__":
  main()
