"""The layout of tests/: helpers live in tests/support and are imported from there; no test
module imports tests.conftest or another test module; conftest.py holds only fixtures and
hooks; and each public name of tests/support means one thing (is defined once)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(tree: ast.Module, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import anywhere in the module, relative ones
    resolved against ``package`` (the importing module's package)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _forbidden(module: str) -> bool:
    """A test module or the conftest, by its importable name."""
    parts = module.split(".")
    return any(part == "conftest" or part.startswith("test_") for part in parts)


def _is_fixture_or_hook(node: ast.FunctionDef) -> bool:
    if node.name.startswith("pytest_"):
        return True
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def layout_problems(tests: Path) -> list[str]:
    """What breaks the layout rules in the tests folder ``tests``."""
    problems: list[str] = []
    modules = sorted(tests.glob("test_*.py")) + sorted((tests / "support").glob("*.py"))
    for path in modules:
        package = "tests.support" if path.parent.name == "support" else "tests"
        tree = ast.parse(path.read_text(), str(path))
        reported: set[int] = set()
        for line, module in _imported_modules(tree, package):
            if _forbidden(module) and line not in reported:
                reported.add(line)
                problems.append(f"{path.relative_to(tests)}:{line} imports {module} (import helpers from tests.support)")
    conftest = tests / "conftest.py"
    if conftest.exists():
        for node in ast.parse(conftest.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_fixture_or_hook(node):
                problems.append(f"conftest.py:{node.lineno} defines helper {node.name} (put it in tests/support)")
            elif isinstance(node, ast.ClassDef):
                problems.append(f"conftest.py:{node.lineno} defines class {node.name} (put it in tests/support)")
    defined: dict[str, str] = {}
    for path in sorted((tests / "support").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            else:
                continue
            for name in names:
                if name.startswith("_"):
                    continue
                if name in defined:
                    problems.append(f"support/{path.name} defines {name}, already defined in support/{defined[name]}")
                else:
                    defined[name] = path.name
    return problems


def test_tests_follow_the_layout() -> None:
    assert layout_problems(TESTS) == []


def test_the_layout_check_finds_each_kind_of_breach(tmp_path: Path) -> None:
    (tmp_path / "support").mkdir()
    (tmp_path / "support" / "a.py").write_text("def git(): ...\nfrom ..test_x import y\n")
    (tmp_path / "support" / "b.py").write_text("git = 1\n")
    (tmp_path / "test_one.py").write_text("from tests.conftest import Result\n\ndef f():\n    import tests.test_two\n")
    (tmp_path / "test_two.py").write_text("from .test_one import f\nfrom . import conftest\n")
    (tmp_path / "conftest.py").write_text("import pytest\n\n@pytest.fixture\ndef ok(): ...\n\ndef helper(): ...\n")
    problems = layout_problems(tmp_path)
    assert len(problems) == 7, problems
    expected = ["support/a.py:2 imports tests.test_x", "test_one.py:1 imports tests.conftest",
                "test_one.py:4 imports tests.test_two", "test_two.py:1 imports tests.test_one",
                "test_two.py:2 imports tests.conftest", "defines helper helper", "support/b.py defines git"]
    for needle in expected:
        assert any(needle in problem for problem in problems), (needle, problems)
