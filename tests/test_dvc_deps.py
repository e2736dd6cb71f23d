"""dvc.yaml's code deps are what each stage imports: derived from the source, not remembered.

For every stage, the CLI command in its ``cmd`` (``seqnetquake <command> ...``) is looked up in
``cli.py``; the package modules that command's function imports, plus ``cli.py``'s own
module-level package imports, are the roots. Their imports are followed transitively within
``src/seqnetquake`` (every ``import``/``from ... import`` anywhere in a module, lazy ones in
functions included: DVC tracks files, not functions). Each file reached must be a dep of the
stage, itself or through a folder dep (``src/seqnetquake/models`` covers the whole package).
Left out on purpose: ``cli.py`` (dispatch only) and the top-level ``__init__.py`` (a version
string), as dvc.yaml's header says.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "seqnetquake"
CLI = SRC / PACKAGE / "cli.py"
NOT_DEPS = {f"src/{PACKAGE}/cli.py", f"src/{PACKAGE}/__init__.py"}


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The file of a dotted module name of the package (module or package __init__)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, current: str, is_package: bool) -> set[str]:
    """Package modules named by the imports of one parsed module (absolute and relative)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = current.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # "from pkg import name": name may be a submodule or an attribute of pkg
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}
    return found


def _with_parents(name: str) -> list[str]:
    """Importing a.b.c runs a/__init__, a/b/__init__ and a/b/c."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def transitive_files(roots: set[str], src: Path = SRC) -> set[str]:
    """Repository-relative paths of every package file the root modules import, transitively."""
    seen: set[Path] = set()
    todo = [n for root in roots for n in _with_parents(root)]
    while todo:
        path = module_file(todo.pop(), src)
        if path is None or path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in imported_modules(tree, _module_name(path, src), path.name == "__init__.py"):
            todo.extend(_with_parents(name))
    return {str(p.relative_to(src.parent)) for p in seen}


def command_roots(command: str, cli: Path = CLI) -> set[str]:
    """Package modules a CLI command starts from: its function's imports and cli's top level."""
    tree = ast.parse(cli.read_text())
    roots = {n for stmt in tree.body if isinstance(stmt, ast.Import | ast.ImportFrom)
             for n in imported_modules(stmt, f"{PACKAGE}.cli", False)}
    # Sub-apps (`app.add_typer(benchmark_app, name="benchmark")`): their commands are
    # "<name> <command>".
    prefixes = {"app": ""}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_typer"
                and node.args and isinstance(node.args[0], ast.Name)):
            for kw in node.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    prefixes[node.args[0].id] = f"{kw.value.value} "
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "command":
                owner = getattr(deco.func.value, "id", "app")
                name = (deco.args[0].value if deco.args
                        else node.name.replace("_", "-"))
                if prefixes.get(owner, "") + name == command:
                    return roots | imported_modules(node, f"{PACKAGE}.cli", False)
    raise KeyError(f"cli.py has no command {command!r}")


def missing_deps(stage: dict, cli: Path = CLI, src: Path = SRC) -> list[str]:
    """Package files a stage's command imports that none of its deps (file or folder) cover."""
    body = stage.get("do", stage)
    words = body["cmd"].split()
    assert words[0] == PACKAGE, body["cmd"]
    try:
        roots = command_roots(words[1], cli)
    except KeyError:  # a sub-app's command: "seqnetquake benchmark run ..."
        roots = command_roots(f"{words[1]} {words[2]}", cli)
    needed = transitive_files(roots, src) - NOT_DEPS
    deps = [d.rstrip("/") for d in body.get("deps", []) if isinstance(d, str)]
    return sorted(f for f in needed
                  if not any(f == d or f.startswith(d + "/") for d in deps))


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(_stages()))
def test_every_stage_lists_the_code_it_imports(name):
    assert missing_deps(_stages()[name]) == [], f"dvc.yaml stage {name}: add these deps"


def _study_stages() -> dict[str, dict]:
    """study/dvc.yaml (`make study`): wdir .. makes its paths repository-relative too."""
    return yaml.safe_load((REPO / "study" / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(_study_stages()))
def test_every_study_stage_lists_the_code_it_imports(name):
    stage = _study_stages()[name]
    assert stage.get("do", stage)["wdir"] == ".."
    assert missing_deps(stage) == [], f"study/dvc.yaml stage {name}: add these deps"


def test_checker_catches_a_removed_dep():
    stages = _stages()
    train = dict(stages["train_base"])
    assert "src/seqnetquake/metrics.py" in transitive_files(command_roots("train"))
    train["deps"] = [d for d in train["deps"] if d != "src/seqnetquake/metrics.py"]
    assert missing_deps(train) == ["src/seqnetquake/metrics.py"]
    # a folder dep covers every file under it; without it each file is missing
    windows = {"do": dict(stages["windows"]["do"])}
    windows["do"]["deps"] = [d for d in windows["do"]["deps"]
                             if d != "src/seqnetquake/windowset.py"]
    assert missing_deps(windows) == ["src/seqnetquake/windowset.py"]
    tune = dict(stages["tune"]["do"])
    tune["deps"] = [d for d in tune["deps"] if d != "src/seqnetquake/models"]
    assert "src/seqnetquake/models/__init__.py" in missing_deps(tune)


def test_imports_are_resolved_relative_and_lazy(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from seqnetquake import lazy\n")
    (pkg / "lazy.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    files = transitive_files({f"{PACKAGE}.sub"}, tmp_path)  # paths as "<src>/seqnetquake/..."
    assert files == {f"{tmp_path.name}/{PACKAGE}/{f}" for f in (
        "__init__.py", "sub/__init__.py", "sub/leaf.py", "lazy.py")}
