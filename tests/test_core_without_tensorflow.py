"""The TF-free core (models, partitioning, trainer, decoding, evaluation) imports with TensorFlow blocked."""
import subprocess
import sys
import textwrap

CORE_PACKAGES = ["flan.models", "flan.trainer", "flan.evaluation"]
CORE_MODULES = ["flan.partitioning", "flan.jsonl", "flan.train", "flan.infer", "flan.convert"]
BLOCKED = ["tensorflow", "seqio", "tensorflow_datasets", "tensorflow_text"]

SCRIPT = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = {blocked!r}

    class BlockTensorFlow(importlib.abc.MetaPathFinder):
      def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
          raise ImportError(f"{{name}} is blocked in this test")
        return None

    sys.meta_path.insert(0, BlockTensorFlow())
    imported = []
    for package_name in {packages!r}:
      package = importlib.import_module(package_name)
      imported.append(package_name)
      for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
    for module_name in {modules!r}:
      importlib.import_module(module_name)
      imported.append(module_name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print("\\n".join(imported))
""")


def test_core_imports_without_tensorflow():
  script = SCRIPT.format(blocked=BLOCKED, packages=CORE_PACKAGES, modules=CORE_MODULES)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  imported = result.stdout.split()
  assert "flan.models.t5" in imported
  assert "flan.trainer" in imported
