"""The layering of artver's modules (docs/design.md, "Layers"), checked on the source:

- cli.py, the command line, reaches the core only through artver.api: it imports api,
  render, console, errors and error_handler, nothing else of artver;
- no module under artver/commands imports another one (shared helpers live in history.py,
  artifacts.py, ...; commands that combine others, like pull and the hooks, are composed in
  api.py);
- the core never prints, never exits and never imports typer: only the CLI talks to a person.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from artver.commands.status import State
from artver.console import to_jsonable
from artver.render import STATUS_HINTS

PACKAGE = Path(__file__).resolve().parent.parent / "artver"
CLI_MODULES = {"cli.py", "render.py", "console.py", "entry.py", "error_handler.py", "__main__.py"}
CLI_MAY_IMPORT = {"artver", "artver.__version__", "artver.api", "artver.render", "artver.console", "artver.errors", "artver.error_handler"}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "artver")
    return found


def _core_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).as_posix() not in CLI_MODULES)


def test_cli_imports_only_the_api_render_console_and_errors() -> None:
    own = {name for name in _imports(PACKAGE / "cli.py") if name.split(".")[0] == "artver"}
    assert own <= CLI_MAY_IMPORT, f"cli.py bypasses artver.api: {sorted(own - CLI_MAY_IMPORT)}"
    assert "artver.api" in own


def test_render_calls_no_command() -> None:
    commands = {name for name in _imports(PACKAGE / "render.py") if name.startswith(("artver.commands", "artver.api"))}
    assert not commands, f"render.py only words results; it imports {sorted(commands)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "commands").glob("*.py")), ids=lambda path: path.name)
def test_no_command_module_imports_another(path: Path) -> None:
    others = {name for name in _imports(path)
              if name.startswith("artver.commands.") and name != f"artver.commands.{path.stem}"}
    others |= {f"artver.commands.{alias}" for alias in _from_commands_package(path)}
    assert not others, f"{path.name} imports {sorted(others)}; move the shared part to a core module or compose in api.py"


def _from_commands_package(path: Path) -> set[str]:
    """'from artver.commands import x' imports the command module x."""
    return {alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)
            and node.module == "artver.commands" for alias in node.names}


@pytest.mark.parametrize("path", _core_files(), ids=lambda path: path.relative_to(PACKAGE).as_posix())
def test_the_core_never_prints_exits_or_imports_typer(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id in ("print", "exit", "quit"):
                problems.append(f"line {node.lineno}: {function.id}()")
            if isinstance(function, ast.Attribute) and function.attr == "exit" and \
                    isinstance(function.value, ast.Name) and function.value.id in ("sys", "os"):
                problems.append(f"line {node.lineno}: {function.value.id}.exit()")
    problems += [f"imports {name}" for name in _imports(path) if name.split(".")[0] in ("typer", "click", "rich")]
    assert not problems, f"{path.relative_to(PACKAGE)}: {problems} (only the CLI talks to a person)"


def test_every_status_state_but_clean_has_a_hint() -> None:
    """A new State member without a hint would make 'artver status -v' fail with KeyError."""
    assert {state for state in State if state is not State.CLEAN} == set(STATUS_HINTS)


def test_json_of_a_result_includes_its_properties() -> None:
    """'ok' (and verify's 'repair') come from the results' properties in one place, not by hand."""
    from artver.api import PullResult
    from artver.commands.checkout import CheckoutResult
    from artver.commands.verify import ObjectProblem, VerifyResult
    from artver.transfer import Failure, TransferSummary

    failed = TransferSummary("remote 'r' (/x)", failed=[Failure("xxh128:" + "0" * 32, "gone")])
    pulled = to_jsonable(PullResult(failed, CheckoutResult(updated=["a"])))
    assert (pulled["ok"], pulled["fetch"]["ok"], pulled["checkout"]["ok"]) == (False, False, True)
    assert list(pulled) == ["fetch", "checkout", "ok"]
    assert list(pulled["checkout"])[-1] == "ok"
    verified = to_jsonable(VerifyResult(checked=1, problems=[ObjectProblem("xxh128:" + "1" * 32, "remote", "missing", ())]))
    assert verified["ok"] is False and verified["repair"] and list(verified)[-2:] == ["ok", "repair"]
