"""The layout rule of README's development section, checked on every import in the source:
data and models read only the core; training reads neither data nor models; tasks put them
together; only the CLI and the API sit above tasks; benchmarks use the API, never the CLI."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "rnnkit"

# package -> the rnnkit packages it must not import
FORBIDDEN = {
    "data": ("training", "models", "tasks", "cli", "api", "studies"),
    "models": ("data", "training", "tasks", "cli", "api", "studies"),
    "training": ("data", "models", "tasks", "cli", "api", "studies"),
    "tasks": ("cli", "api", "studies"),
}


def rnnkit_imports(path: Path) -> set[str]:
    """The second component of every ``rnnkit.X`` a file imports (``rnnkit.data.text`` -> data)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "rnnkit" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_may(package):
    for path in sorted((SOURCE / package).rglob("*.py")):
        wrong = rnnkit_imports(path) & set(FORBIDDEN[package])
        assert not wrong, f"{path.relative_to(ROOT)} imports rnnkit.{', rnnkit.'.join(wrong)}"


def test_benchmarks_do_not_import_the_cli():
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        assert "cli" not in rnnkit_imports(path), f"{path.relative_to(ROOT)} imports rnnkit.cli"
