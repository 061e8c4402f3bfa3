"""Package metadata for flan: instruction finetuning of T5 models in JAX."""
import setuptools

# Pinned for a reproducible install on Python 3.11 (the versions DESIGN.md records as installing
# together); on Python 3.12+ the core is known to work with jax 0.10-0.12, so ranges are allowed there.
PY311 = 'python_version < "3.12"'
PY312 = 'python_version >= "3.12"'


def pinned(name, exact, newer_range):
  return [f"{name}=={exact}; {PY311}", f"{name}{newer_range}; {PY312}"]


INSTALL_REQUIRES = [
    *pinned("jax", "0.10.2", ">=0.10.2,<0.13"),
    *pinned("jaxlib", "0.10.2", ">=0.10.2,<0.13"),
    *pinned("flax", "0.12.8", ">=0.12.8,<0.13"),
    *pinned("optax", "0.2.8", ">=0.2.8,<0.3"),
    *pinned("orbax-checkpoint", "0.12.8", ">=0.12.8,<0.13"),
    "gin-config==0.5.0",
    *pinned("seqio", "0.0.20", ">=0.0.20"),
    *pinned("tensorflow", "2.21.0", ">=2.21"),
    *pinned("tensorflow-text", "2.21.1", ">=2.21"),
    *pinned("tensorflow-datasets", "4.9.10", ">=4.9.10"),
    *pinned("sentencepiece", "0.2.3", ">=0.2.3"),
    *pinned("safetensors", "0.8.0", ">=0.4"),
    *pinned("msgpack", "1.2.4", ">=1.0"),
    *pinned("tensorstore", "0.1.86", ">=0.1.60"),
    # Llama-family tokenizer.json files (decoder-only checkpoints); the version transformers 5.24 installs.
    *pinned("tokenizers", "0.23.3", ">=0.21"),
    *pinned("matplotlib", "3.11.2", ">=3.8"),  # flan-eval / flan-report plots
    *pinned("tqdm", "4.70.1", ">=4.60"),  # progress bars
]

setuptools.setup(
    name="flan",
    version="0.1.0",
    description="Instruction finetuning of T5 / Flan-T5 models in JAX, in the way of the Flan papers.",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["flan", "flan.*"]) + ["flan.mixtures"],
    package_dir={"flan.mixtures": "mixtures"},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest==9.2.0", "pytest-xdist==3.8.0"],
        # Peers for bench/ (Hugging Face PyTorch T5) and the golden-fixture script in tests/.
        "bench": ["torch==2.14.1", "transformers==5.24.0"],
    },
    entry_points={
        "console_scripts": [
            "flan-train=flan.train:main",
            "flan-eval=flan.evaluation.cli:main",
            "flan-infer=flan.infer:main",
            "flan-convert=flan.convert:main",
            "flan-data=flan.data.cli:main",
            "flan-report=flan.evaluation.report_cli:main",
        ],
    },
)
