"""Layering: the model layer never reaches up into the trainer or the data layer, flan's modules import each
other without circles, and every module imports on its own."""
import ast
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {"flan": REPO / "flan", "flan.mixtures": REPO / "mixtures"}


def _modules():
  """{module name: file} for every module of flan (flan.mixtures lives in mixtures/)."""
  found = {}
  for package, directory in PACKAGE_DIRS.items():
    for path in directory.rglob("*.py"):
      parts = path.relative_to(directory).with_suffix("").parts
      if parts[-1] == "__init__":
        parts = parts[:-1]
      found[".".join((package,) + parts)] = path
  return found


def _imported_names(node, module, is_package):
  """Absolute names an import statement refers to (a `from X import y` may name module X.y)."""
  if isinstance(node, ast.Import):
    return [alias.name for alias in node.names]
  base = node.module or ""
  if node.level:
    anchor = module.split(".") if is_package else module.split(".")[:-1]
    anchor = anchor[:len(anchor) - node.level + 1]
    base = ".".join(anchor + ([node.module] if node.module else []))
  return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _imports(path, module, *, top_level_only):
  tree = ast.parse(path.read_text(encoding="utf-8"))
  nodes = tree.body if top_level_only else list(ast.walk(tree))
  if top_level_only:  # module-level imports, also inside module-level if/try blocks
    nodes = [n for statement in tree.body for n in ast.walk(statement)
             if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
  names = []
  for node in nodes:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      names += _imported_names(node, module, path.name == "__init__.py")
  return names


def test_models_import_neither_the_trainer_nor_the_data_layer():
  offending = []
  for module, path in _modules().items():
    if not module.startswith("flan.models"):
      continue
    for name in _imports(path, module, top_level_only=False):
      if name.startswith(("flan.trainer", "flan.data", "flan.mixtures")):
        offending.append(f"{module} imports {name}")
  assert not offending, offending


def test_imports_have_no_circles():
  """Lazy (function-level) imports count too: a circle closed by one still ties the modules together."""
  modules = _modules()
  graph = {module: sorted({name for name in _imports(path, module, top_level_only=False) if name in modules
                           and name != module}) for module, path in modules.items()}
  state, stack, cycles = {}, [], []

  def visit(module):
    state[module] = "open"
    stack.append(module)
    for dependency in graph[module]:
      if state.get(dependency) == "open":
        cycles.append(stack[stack.index(dependency):] + [dependency])
      elif dependency not in state:
        visit(dependency)
    stack.pop()
    state[module] = "done"

  for module in sorted(graph):
    if module not in state:
      visit(module)
  assert not cycles, [" -> ".join(cycle) for cycle in cycles]


def _third_party_packages(modules):
  """The top-level third-party packages flan's modules import at module level."""
  packages = set()
  for module, path in modules.items():
    for name in _imports(path, module, top_level_only=True):
      root = name.split(".")[0]
      if root and root != "flan" and root not in sys.stdlib_module_names and importlib.util.find_spec(root):
        packages.add(root)
  return sorted(packages)


def test_every_module_imports_alone():
  """Each module imports with no other flan module loaded first (tests/import_each_alone.py: a forked child per
  module from a parent holding only the third-party packages)."""
  all_modules = _modules()
  modules = sorted(m for m in all_modules if not m.endswith("__main__"))
  env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, str(REPO / "tests" / "import_each_alone.py"),
                           ",".join(_third_party_packages(all_modules))] + modules,
                          capture_output=True, text=True, timeout=900, cwd=REPO, env=env, check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  failures = json.loads(result.stdout.strip().splitlines()[-1])
  assert not failures, "\n\n".join(f"{module}:\n{error}" for module, error in failures.items())
