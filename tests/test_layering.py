"""Imports point one way (STYLE.md): core is sans-I/O, the client never imports the server."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tokenturn"
IO_MODULES = {
    "socket",
    "sqlite3",
    "asyncio",
    "subprocess",
    "threading",
    "select",
    "selectors",
    "ssl",
    "http",
    "urllib.request",
    "shutil",
    "tempfile",
    "multiprocessing",
    "io",
    "os",
    "time",
    "logging",
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def package_files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("path", package_files("core"), ids=lambda p: str(p.relative_to(SRC)))
def test_core_imports_only_the_standard_library_and_no_io(path: Path) -> None:
    for name in imports_of(path):
        top = name.split(".")[0]
        if top == "tokenturn":
            assert name.startswith("tokenturn.core"), f"{path.name} imports {name}"
            continue
        assert top in sys.stdlib_module_names or top == "__future__", f"{path.name} imports {name}"
        assert name not in IO_MODULES and top not in IO_MODULES, f"{path.name} imports I/O module {name}"


@pytest.mark.parametrize("package", ["client", "proxy"])
def test_client_side_never_imports_the_server_or_storage(package: str) -> None:
    for path in package_files(package):
        for name in imports_of(path):
            assert not name.startswith(("tokenturn.server", "tokenturn.storage")), f"{path} imports {name}"


def test_storage_does_not_import_the_server() -> None:
    for path in package_files("storage"):
        for name in imports_of(path):
            assert not name.startswith("tokenturn.server"), f"{path} imports {name}"
