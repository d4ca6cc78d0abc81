"""What MWAA installs and what the local lock pins agree, and requirements.txt carries what MWAA processes import.

MWAA installs requirements.txt under Airflow's constraints for 3.3.1 / Python 3.12; the local environment
installs requirements/lock.txt. A package the two pin at different versions runs one way in tests and
another on MWAA, so every shared pin must match. requirements.txt lists only what plugins/ and dags/
import (include/training/ runs in SageMaker containers, not on MWAA), and everything they import must be
listed there or come with Airflow.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy import package

REPO = package.REPO
REQUIREMENTS = REPO / "requirements.txt"
# Where MWAA runs: Python 3.12 on Linux x86_64.
MWAA_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
MWAA_CODE = ("plugins", "dags")
# Shipped in plugins.zip but never run by an MWAA process: `python -m mlops check` runs where a data
# engineer runs it (and in `make test`), with the local environment's scikit-learn.
NOT_RUN_ON_MWAA = {"plugins/mlops/check.py", "plugins/mlops/__main__.py"}


def _requirements(path: Path) -> list[Requirement]:
    """The requirement lines of a pip requirements/constraints file that apply on MWAA (options skipped)."""
    found = []
    for raw in path.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(MWAA_MARKERS):
            found.append(req)
    return found


def _exact_pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line that applies on MWAA; one per name."""
    pins: dict[str, str] = {}
    for req in _requirements(path):
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator == "==":
            name = canonicalize_name(req.name)
            assert name not in pins, f"{path.name}: {name} is pinned twice for Python 3.12"
            pins[name] = specs[0].version
    return pins


def _constraints() -> tuple[Path, dict[str, str]]:
    path = package.CONSTRAINTS_FILE
    return path, _exact_pins(path)


def test_vendored_constraints_are_airflows_for_3_3_1_and_python_3_12():
    vendored = package.CONSTRAINTS_FILE
    text = vendored.read_text()
    header = "\n".join(line for line in text.splitlines()[:5])
    assert "raw.githubusercontent.com/apache/airflow/constraints-3.3.1/constraints-3.12.txt" in header
    assert re.search(r"\b[0-9a-f]{40}\b", header), "the header names the commit of the constraints-3.3.1 tag"
    pins = _exact_pins(vendored)
    assert len(pins) > 500, f"only {len(pins)} pins: not the whole constraints file"
    assert pins["apache-airflow-providers-amazon"] == "9.34.0"


def test_the_lock_pins_every_package_it_shares_with_the_mwaa_constraints_at_their_version():
    path, constraints = _constraints()
    lock = _exact_pins(package.LOCK_FILE)
    shared = sorted(set(lock) & set(constraints))
    drifted = {
        name: f"lock {lock[name]}, constraints {constraints[name]}"
        for name in shared
        if lock[name] != constraints[name]
    }
    assert not drifted, f"requirements/lock.txt drifts from {path.name} (run `make lock`): {drifted}"
    assert len(shared) >= min(len(constraints), 15), f"only {len(shared)} packages shared with {path.name}"


def test_requirements_txt_starts_with_the_constraints_line_and_pins_their_versions():
    lines = [ln.strip() for ln in REQUIREMENTS.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    url = package.CONSTRAINTS_URL.format(airflow=package.pinned_airflow_version(), python=package.MWAA_PYTHON)
    assert url.endswith("/constraints-3.3.1/constraints-3.12.txt")
    assert lines[0] == f'--constraint "{url}"'

    path, constraints = _constraints()
    lock = _exact_pins(package.LOCK_FILE)
    problems = []
    for req in _requirements(REQUIREMENTS):
        name = canonicalize_name(req.name)
        if name in constraints and str(req.specifier) != f"=={constraints[name]}":
            problems.append(f"{req}: {path.name} pins {name}=={constraints[name]}")
        if not req.specifier.contains(lock.get(name, "0"), prereleases=True):
            problems.append(f"{req}: the lock has {lock.get(name, 'nothing')}")
    assert not problems, problems


def _first_party_names() -> set[str]:
    roots = [REPO, *(REPO / d for d in MWAA_CODE)]
    return {p.stem if p.suffix == ".py" else p.name for root in roots for p in root.iterdir()}


def _imports_of_mwaa_code() -> dict[str, set[str]]:
    """Every absolute module imported under plugins/ and dags/ (nested and conditional imports too) -> files."""
    found: dict[str, set[str]] = {}
    for folder in MWAA_CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.relative_to(REPO).as_posix() in NOT_RUN_ON_MWAA:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    found.setdefault(module, set()).add(str(path.relative_to(REPO)))
    return found


@cache
def _top_level_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@cache
def _defining_distributions(top: str) -> dict[str, str]:
    """module -> the distribution whose files define it, for a top-level name several distributions share."""
    defined: dict[str, str] = {}
    for dist_name in _top_level_distributions()[top]:
        for file in importlib.metadata.distribution(dist_name).files or ():
            if file.parts[0] != top or file.suffix != ".py":
                continue
            parts = file.parts[:-1] if file.stem == "__init__" else (*file.parts[:-1], file.stem)
            defined[".".join(parts)] = canonicalize_name(dist_name)
    return defined


def _distribution_of(module: str) -> str | None:
    """The installed distribution an import comes from (for `airflow.providers.x`, the provider's)."""
    owners = _top_level_distributions().get(module.split(".")[0], [])
    if len(set(owners)) <= 1:
        return canonicalize_name(owners[0]) if owners else None
    defined = _defining_distributions(module.split(".")[0])
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in defined:
            return defined[".".join(parts[:end])]
    return None


def _third_party_imports() -> dict[str, set[str]]:
    """distribution -> the files under plugins/ and dags/ that import from it."""
    first_party = _first_party_names()
    by_distribution: dict[str, set[str]] = {}
    unknown = {}
    for module, files in _imports_of_mwaa_code().items():
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in first_party:
            continue
        dist = _distribution_of(module)
        if dist is None:
            unknown[module] = sorted(files)
        else:
            by_distribution.setdefault(dist, set()).update(files)
    assert not unknown, f"imported, but no installed distribution provides them: {unknown}"
    return by_distribution


def _dependency_closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the roots pull in on MWAA (installed metadata, markers and extras evaluated)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({**MWAA_MARKERS, "extra": e}) for e in extras | {""}):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return {name for name, _ in seen}


def test_requirements_txt_lists_only_what_plugins_and_dags_import():
    imported = _third_party_imports()
    listed = {canonicalize_name(r.name) for r in _requirements(REQUIREMENTS)}
    unused = sorted(listed - set(imported))
    assert not unused, f"requirements.txt lists what nothing under plugins/ or dags/ imports: {unused}"


def test_every_third_party_import_of_plugins_and_dags_is_listed_or_comes_with_airflow():
    """An import that only arrives through an unrelated package (pandas through great-expectations) must be listed."""
    listed = _requirements(REQUIREMENTS)
    providers = [r for r in listed if canonicalize_name(r.name).startswith("apache-airflow-providers-")]
    airflow = Requirement(f"apache-airflow=={package.pinned_airflow_version()}")
    with_airflow = _dependency_closure([airflow, *providers])
    names = {canonicalize_name(r.name) for r in listed}
    missing = {
        dist: sorted(files)
        for dist, files in _third_party_imports().items()
        if dist not in names and dist not in with_airflow
    }
    assert not missing, (
        f"imported under plugins/ or dags/, but not in requirements.txt nor an Airflow dependency: {missing}"
    )
