"""Training: optimizer, schedules, train state and step, checkpoints, metrics and the train loop.

Nothing here imports TensorFlow; batches come from any object with the BatchIterator protocol
(`__next__`, `get_state`, `set_state`; optionally `reshard_state`, to resume a checkpoint of another
number of processes exactly: see flan.trainer.data_resume).
"""
