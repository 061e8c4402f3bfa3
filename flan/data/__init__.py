"""flan's data layer (the only TensorFlow user): templates, sources, seqio tasks, mixtures, packing.

Importing this package is cheap and registers nothing; import flan.data.demo for the demo tasks and
flan.mixtures.<name> (e.g. flan.mixtures.flan2022) for the Flan collection.
"""
