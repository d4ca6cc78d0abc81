"""The library's shape, read from its imports (every import statement, also those inside functions).

- only `mlops.airflow` (and the plugin and DAG files) imports Airflow;
- nothing in plugins/ or dags/ imports the embedded stack;
- a stage imports only the layers below it, so stages never form a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "plugins" / "mlops"

# Each layer may import the layers before it, never its peers or the layers after it.
LAYERS = (
    {"settings", "project"},
    {"aws"},
    {"lake"},
    {"ingestion", "registry"},
    {"training"},
    {"deployment"},
    {"serving"},  # serving reads the deployment settings (mlops.deployment.config)
    {"monitoring"},
    {"airflow", "check"},
    {"__main__"},
)
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def stage_of(path: Path) -> str:
    return path.relative_to(LIBRARY).parts[0].removesuffix(".py")


def library_files() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if p.name != "__init__.py" or p.parent != LIBRARY)


def test_every_library_module_belongs_to_a_layer():
    unknown = sorted({stage_of(p) for p in library_files()} - set(LAYER_OF))
    assert not unknown, f"add {unknown} to LAYERS in {__file__}"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(LIBRARY)))
def test_stages_import_only_layers_below(path):
    own = stage_of(path)
    wrong = []
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] != "mlops" or len(parts) < 2 or parts[1] not in LAYER_OF or parts[1] == own:
            continue
        if LAYER_OF[parts[1]] >= LAYER_OF[own]:
            wrong.append(module)
    assert not wrong, f"mlops.{own} must not import {sorted(set(wrong))} (same or higher layer)"


def test_only_mlops_airflow_imports_airflow():
    offenders = []
    for path in library_files():
        if stage_of(path) == "airflow":
            continue
        if any(m == "airflow" or m.startswith("airflow.") for m in imported_modules(path)):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_nothing_deployed_imports_the_embedded_stack():
    deployed = [*LIBRARY.rglob("*.py"), REPO / "plugins" / "mlops_plugin.py", *(REPO / "dags").rglob("*.py")]
    offenders = [
        str(p.relative_to(REPO))
        for p in deployed
        if any(m.split(".")[0] == "embedded_stack" for m in imported_modules(p))
    ]
    assert offenders == []


def test_the_rules_catch_a_violation(tmp_path):
    """The scanner sees imports inside functions too (where the library keeps its heavy imports)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from airflow.sdk import DAG\n    import embedded_stack.stack\n")
    assert {"airflow.sdk", "embedded_stack.stack"} <= imported_modules(bad)
