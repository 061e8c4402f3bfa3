"""Tasks registered by `flan-data --module data_cli_fixture_tasks` in tests/test_data_cli.py."""
import seqio
import tensorflow as tf

QUESTIONS = [f"What is {i} plus {i + 1}?" for i in range(12)] + ["Spell " + "x" * 300]
ANSWERS = [f"{2 * i + 1}" for i in range(12)] + ["no"]
VOCAB = seqio.ByteVocabulary()


def _dataset_fn(split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  return tf.data.Dataset.from_tensor_slices({"question": QUESTIONS, "answer": ANSWERS})


def _render(dataset):
  return dataset.map(lambda ex: {
      "inputs": tf.strings.join(["Question: ", ex["question"], "\nAnswer:"]),
      "targets": ex["answer"]})


if "cli_fixture_addition" not in seqio.TaskRegistry.names():
  seqio.TaskRegistry.add(
      "cli_fixture_addition",
      source=seqio.FunctionDataSource(_dataset_fn, splits=["train"],
                                      num_input_examples={"train": len(QUESTIONS)}),
      preprocessors=[_render, seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
      output_features={"inputs": seqio.Feature(VOCAB), "targets": seqio.Feature(VOCAB)},
      shuffle_buffer_size=100)
  seqio.MixtureRegistry.add("cli_fixture_mixture", [("cli_fixture_addition", 1.0)])
