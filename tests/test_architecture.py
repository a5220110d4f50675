"""Architecture: which distribution provides our packages, what the domain may import, and
that importing the program builds nothing."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlparse

import pytest

PACKAGES = ("domain", "application", "adapters")
DISTRIBUTION = "etmad"
PROJECT = Path(__file__).resolve().parents[1]


def _package(name: str) -> ModuleType:
    return importlib.import_module(name)


def _package_dir(name: str) -> Path:
    module = _package(name)
    assert module.__file__ is not None, f"{name} is a namespace package, not ours"
    return Path(module.__file__).resolve().parent


def _installed() -> importlib.metadata.Distribution:
    """The installed ``etmad`` (it has a RECORD; a source tree's egg-info has none)."""
    found = [
        d
        for d in importlib.metadata.distributions(name=DISTRIBUTION)
        if d.read_text("RECORD") is not None
    ]
    assert len(found) == 1, [getattr(d, "_path", d) for d in found]
    return found[0]


def test_only_the_etmad_distribution_provides_our_top_level_packages():
    providers = importlib.metadata.packages_distributions()
    for name in PACKAGES:
        assert set(providers.get(name, [])) == {DISTRIBUTION}, (name, providers.get(name))


def test_our_packages_are_imported_from_the_project_etmad_was_installed_from():
    dist = _installed()
    top_level = set((dist.read_text("top_level.txt") or "").split())
    assert top_level == set(PACKAGES)
    direct_url = dist.read_text("direct_url.json")
    if direct_url is not None and json.loads(direct_url).get("dir_info", {}).get("editable"):
        url = urlparse(json.loads(direct_url)["url"])
        assert url.scheme == "file"
        root = Path(unquote(url.path)).resolve()
        for name in PACKAGES:
            assert _package_dir(name) == root / name, name
    else:
        for name in PACKAGES:
            located = Path(str(dist.locate_file(f"{name}/__init__.py"))).resolve()
            assert located.parent == _package_dir(name), name


def _is_dynamic_import(call: ast.Call) -> bool:
    return getattr(call.func, "attr", "") == "import_module" or (
        getattr(call.func, "id", "") == "__import__"
    )


def _imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports of a module (relative ones stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.add("<dynamic import>")
    return found


def _modules(package: str) -> list[Path]:
    files = sorted(_package_dir(package).rglob("*.py"))
    assert files
    return files


def test_the_domain_imports_only_the_standard_library_and_attrs():
    allowed = set(sys.stdlib_module_names) | {"attrs", "attr", "domain"}
    offending = {
        str(path.relative_to(_package_dir("domain").parent)): sorted(_imports(path) - allowed)
        for path in _modules("domain")
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_application_does_not_reach_into_the_adapters():
    allowed = set(sys.stdlib_module_names) | {"attrs", "attr", "eventsourcing", "domain"}
    allowed.add("application")
    offending = {path.name: sorted(_imports(path) - allowed) for path in _modules("application")}
    assert {k: v for k, v in offending.items() if v} == {}


def _all_module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        root = _package_dir(package).parent
        for path in _modules(package):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts[-1] != "__main__":
                names.append(".".join(parts))
    return names


@pytest.mark.slow
def test_importing_the_program_builds_nothing(tmp_path: Path):
    modules = ["adapters.bootstrap", "adapters.cli.main", *_all_module_names()]
    script = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        import domain
        print(domain.__file__)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Imported from the installed project (not from the working directory), and nothing
    # written: no var/etmad.sqlite, no log file, no cache.
    assert Path(done.stdout.strip()).resolve().parent == _package_dir("domain")
    assert sorted(p.name for p in tmp_path.rglob("*")) == []
    assert not (tmp_path / "var" / "etmad.sqlite").exists()
