# The README's commands. Each creates .venv when missing and installs what it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test

.PHONY: test demo bench-deps gpu-wheels clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.py
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q tests

# Finetunes a small T5 on the generated demo mixture on the CPU; prints held-out accuracy before and after.
demo: $(STAMP)
	$(PY) -m flan.demo

# torch + transformers: the peers the benchmarks under bench/ measure against.
bench-deps: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'

# gin-config as a wheel in .whl/, for a GPU machine that lacks it (bench/gpu_bench.sh installs .whl/*.whl).
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --dest .whl gin-config==0.5.0

clean-venv:
	rm -rf $(VENV)
