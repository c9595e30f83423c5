"""The import structure of `attn_jax/` stays as docs/design.md draws it (section "Layers").

Read with `ast` (nothing is imported): every `import` of a project module, at module level or
inside a function. A module may import its own package (or, for a one-file layer, nothing of its
own layer) and any lower layer; never a higher layer, never a sibling on its layer (data and
models know nothing of each other). No cycle among modules, counting that importing
`attn_jax.pkg.mod` from outside `pkg` runs `pkg/__init__.py` first. No project import inside a
function (the way to hide a cycle). Training reaches decoding only through its evaluators.
"""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'attn_jax')

# Highest first (docs/design.md, "Layers"). A prefix names a module or a package.
LAYERS = (
    ('attn_jax.modes', 'attn_jax.compare'),
    # It launches runs as processes (launch.py) and reads their files: it imports only leaves
    # (compare reads its record).
    ('attn_jax.sweep',),
    ('attn_jax.runners',),  # it loads studies and the loop by name (importlib), on use
    # A study's folder (or module) imports none of the other studies; their shared helpers
    # (studies.flops, step_cost, model_list, study_runs) import no study.
    ('attn_jax.studies.seq_len_scaling', 'attn_jax.studies.benchmark',
     'attn_jax.studies.bottleneck', 'attn_jax.studies.scan_generalisation'),
    ('attn_jax.studies',),
    ('attn_jax.config_base', 'attn_jax.config_presets'),
    ('attn_jax.training',),
    ('attn_jax.translation', 'attn_jax.attention_maps', 'attn_jax.sampling'),
    ('attn_jax.decoding',),
    ('attn_jax.models', 'attn_jax.data'),
    ('attn_jax.task', 'attn_jax.errors', 'attn_jax.plots', 'attn_jax.progress',
     'attn_jax.overrides', 'attn_jax.durable', 'attn_jax.tables', 'attn_jax.compilation_cache',
     'attn_jax.host_cpu'),
)
DECODING_SIDE = ('attn_jax.decoding', 'attn_jax.translation', 'attn_jax.sampling',
                 'attn_jax.attention_maps')
# Inside training, only the evaluators may use decoding (the loop knows nothing of it).
DECODING_USERS_IN_TRAINING = ('attn_jax.training.evaluators',)


def module_files(root: str) -> dict[str, str]:
  """Module name -> path for every .py file under `root` (the `attn_jax` package directory)."""
  base = os.path.dirname(root)
  modules = {}
  for folder, _, files in os.walk(root):
    for name in files:
      if name.endswith('.py'):
        parts = os.path.relpath(os.path.join(folder, name), base)[:-3].split(os.sep)
        modules['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = os.path.join(
            folder, name)
  return modules


def imports(path: str, modules: dict) -> list[tuple[str, int, bool]]:
  """(imported project module, line, inside a function?) for each import in the file."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  found = []

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                ast.Lambda))
      if isinstance(child, ast.Import):
        found.extend((a.name, child.lineno, in_function) for a in child.names)
      elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
        for alias in child.names:  # `from pkg import mod` imports the module pkg.mod
          name = f'{child.module}.{alias.name}'
          found.append((name if name in modules else child.module, child.lineno, in_function))
      visit(child, inner)

  visit(tree, False)
  return [(name, line, inner) for name, line, inner in found
          if name == 'attn_jax' or name.startswith('attn_jax.')]


def unit_and_layer(module: str) -> tuple[str, int]:
  for rank, prefixes in enumerate(LAYERS):
    for prefix in prefixes:
      if module == prefix or module.startswith(prefix + '.'):
        return prefix, rank
  return module, -1  # not placed: reported by test_every_module_has_a_layer


def check(root: str) -> list[str]:
  """Every broken rule, one line each (empty when the structure holds)."""
  modules = module_files(root)
  problems, graph = [], {m: set() for m in modules}
  for module, path in sorted(modules.items()):
    unit, rank = unit_and_layer(module)
    if module == 'attn_jax':
      continue
    for target, line, in_function in imports(path, modules):
      where = f'{os.path.relpath(path, os.path.dirname(root))}:{line}'
      if in_function:
        problems.append(f'{where}: {module} imports {target} inside a function')
      target_unit, target_rank = unit_and_layer(target)
      if target_unit != unit and target_rank <= rank:
        problems.append(f'{where}: {module} (layer {rank}) imports {target} '
                        f'(layer {target_rank}: not lower)')
      if (unit == 'attn_jax.training' and module not in DECODING_USERS_IN_TRAINING
          and target_unit in DECODING_SIDE):
        problems.append(f'{where}: {module} imports {target}; training decodes only through '
                        f'{", ".join(DECODING_USERS_IN_TRAINING)}')
      if target in graph:
        graph[module].add(target)
      package = target.rpartition('.')[0]  # importing pkg.mod from outside pkg runs pkg first
      while package in graph and not (module + '.').startswith(package + '.'):
        graph[module].add(package)
        package = package.rpartition('.')[0]
  problems += [f'import cycle: {" -> ".join(cycle)}' for cycle in cycles(graph)]
  return problems


def cycles(graph: dict[str, set]) -> list[list[str]]:
  """One cycle through each strongly connected group of modules (Tarjan), as a path."""
  index, low, stack, on_stack, groups = {}, {}, [], set(), []

  def connect(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        connect(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      group = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        group.append(w)
        if w == v:
          break
      if len(group) > 1 or v in graph[v]:
        groups.append(set(group))

  for v in sorted(graph):
    if v not in index:
      connect(v)
  return [_path_within(graph, group) for group in groups]


def _path_within(graph, group: set) -> list[str]:
  """A closed walk inside `group`, from its first module back to it."""
  start = min(group)
  path, seen, v = [start], {start}, start
  while True:
    v = min(w for w in graph[v] if w in group)
    path.append(v)
    if v == start or v in seen:
      return path
    seen.add(v)


def test_every_module_has_a_layer():
  unplaced = [m for m in module_files(ROOT) if m != 'attn_jax' and unit_and_layer(m)[1] < 0]
  assert not unplaced, f'place these in LAYERS (and in docs/design.md): {unplaced}'


def test_imports_follow_the_layers():
  problems = check(ROOT)
  assert not problems, '\n'.join(problems)


def _write(root, files: dict[str, str]):
  for name, text in files.items():
    path = root / 'attn_jax' / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize('files, expected', [
    ({'training/loop.py': 'from attn_jax import decoding\n', 'decoding.py': ''},
     'training decodes only through'),
    ({'models/m.py': 'from attn_jax.data import pipeline\n', 'data/pipeline.py': ''},
     'not lower'),
    ({'decoding.py': 'from attn_jax.training import state\n', 'training/state.py': ''},
     'not lower'),
    ({'studies/seq_len_scaling/a.py': 'from attn_jax.studies.benchmark import b\n',
      'studies/benchmark/b.py': ''}, 'not lower'),  # a study imports no other study
    ({'studies/flops.py': 'from attn_jax.studies.seq_len_scaling import a\n',
      'studies/seq_len_scaling/a.py': ''}, 'not lower'),  # shared helpers import no study
    ({'data/a.py': 'from attn_jax.data import b\n', 'data/b.py': 'from attn_jax.data import a\n'},
     'import cycle: attn_jax.data.a -> attn_jax.data.b -> attn_jax.data.a'),
    ({'data/a.py': 'def f():\n  from attn_jax.data import b\n', 'data/b.py': ''},
     'inside a function'),
    ({'training/__init__.py': 'from attn_jax.training import loop\n',
      'training/loop.py': 'from attn_jax import config_base\n',
      'config_base.py': 'from attn_jax.training import config\n', 'training/config.py': ''},
     'import cycle'),
])
def test_the_checker_catches_each_broken_rule(tmp_path, files, expected):
  _write(tmp_path, {'__init__.py': '', **files})
  problems = check(str(tmp_path / 'attn_jax'))
  assert any(expected in p for p in problems), problems


def test_the_checker_passes_a_tree_that_keeps_the_rules(tmp_path):
  _write(tmp_path, {'__init__.py': '', 'task.py': '',
                    'models/__init__.py': '', 'models/m.py': 'from attn_jax.task import X\n',
                    'data/__init__.py': 'from attn_jax.data.d import load\n',
                    'data/d.py': 'from attn_jax import task\n',
                    'training/__init__.py': '',
                    'training/evaluators.py': 'from attn_jax import translation\n',
                    'training/loop.py': 'from attn_jax.data import load\n'
                                        'from attn_jax.training import evaluators\n',
                    'translation.py': 'from attn_jax import decoding\n',
                    'decoding.py': 'from attn_jax.models import m\n'})
  assert check(str(tmp_path / 'attn_jax')) == []
