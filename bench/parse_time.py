"""DAG parse time, and the import time plugins/ adds to every Airflow process.

Parse: each file in dags/ is parsed in a fresh process the way the DAG processor does it. The processor
(already running, with Airflow imported and the Airflow modules the file names pre-imported, see
[dag_processor] parsing_pre_import_modules) forks one child per file, and that child builds a DagBag of
the file and serializes its DAGs. So we time, in order: `import airflow, airflow.sdk`; the processor's own
imports and pre-imports; the DagBag (the file's own cost, goal < 0.2 s); serialization (information).

Plugins: Airflow imports every .py file under the plugins folder, each as a top-level module named after
the file, in every process that loads plugins (scheduler, API server, DAG processor, task runs). We time
`plugins_manager.ensure_plugins_loaded()` with our plugins/ and with an empty folder; the difference is
ours. A third child imports the mlops modules one by one to show which of them the time goes to.

Every figure is the median of --repeat fresh processes, after one warm-up process that fills the
bytecode cache (its figures are kept as "cold": every module compiled from source).
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, child_env, log, median, run_child, table, verdict, write_child_result, write_results

GOAL_PARSE_S = 0.2
DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"
OURS = {"airflow", "mlops", "bench"}
# The modules an Airflow process needs from plugins/ at start-up come first, then the rest of the library.
STARTUP_MODULES = ("mlops", "mlops.settings", "mlops.ingestion.config", "mlops.plugin", "mlops.airflow.ingestion.dag")


def _top_level(names) -> list[str]:
    return sorted({n.split(".")[0] for n in names})


def _third_party(names) -> list[str]:
    return [
        n
        for n in names
        if n not in sys.stdlib_module_names and not n.startswith(("_", "unusual_prefix_")) and n not in OURS
    ]


# ---- children ---------------------------------------------------------------------------------------------------


def _child_parse(dag_file: str) -> dict:
    t0 = time.perf_counter()
    import airflow  # noqa: F401
    import airflow.sdk  # noqa: F401

    t1 = time.perf_counter()
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.file import iter_airflow_imports

    for module in iter_airflow_imports(dag_file):  # what the processor pre-imports before it forks
        try:
            importlib.import_module(module)
        except Exception:  # the processor only logs these
            pass
    t2 = time.perf_counter()
    before = set(sys.modules)
    bag = BundleDagBag(
        dag_folder=dag_file, bundle_path=Path(dag_file).parent, bundle_name="dags-folder", load_op_links=False
    )
    t3 = time.perf_counter()
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    t4 = time.perf_counter()
    return {
        "airflow_import_s": t1 - t0,
        "processor_imports_s": t2 - t1,
        "parse_s": t3 - t2,
        "serialize_s": t4 - t3,
        "dags": sorted(bag.dag_ids),
        "import_errors": {str(k): v for k, v in bag.import_errors.items()},
        "packages_imported_by_parse": _third_party(_top_level(set(sys.modules) - before)),
    }


def _child_plugins() -> dict:
    """AIRFLOW__CORE__PLUGINS_FOLDER comes from the parent: ours, or an empty folder."""
    import airflow  # noqa: F401
    import airflow.sdk  # noqa: F401
    from airflow import plugins_manager

    before = set(sys.modules)
    started = time.perf_counter()
    plugins_manager.ensure_plugins_loaded()
    seconds = time.perf_counter() - started
    plugins, _ = plugins_manager._get_plugins()
    return {
        "seconds": seconds,
        "plugins": sorted(p.name for p in plugins),
        "import_errors": plugins_manager.get_import_errors(),
        "new_top_level_modules": _top_level(set(sys.modules) - before),
    }


def _library_modules() -> list[str]:
    found = []
    for path in sorted((PLUGINS_DIR / "mlops").rglob("*.py")):
        parts = path.relative_to(PLUGINS_DIR).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    startup = [m for m in STARTUP_MODULES if m in found]
    return startup + [m for m in found if m not in startup]


def _child_modules() -> dict:
    import airflow  # noqa: F401
    import airflow.sdk  # noqa: F401

    times = {}
    for module in _library_modules():
        started = time.perf_counter()
        importlib.import_module(module)
        times[module] = time.perf_counter() - started
    return {"seconds": times}


CHILDREN = {"parse": _child_parse, "plugins": _child_plugins, "modules": _child_modules}


# ---- parent -----------------------------------------------------------------------------------------------------


def _medians(runs: list[dict], keys) -> dict:
    return {k: round(median([r[k] for r in runs]), 4) for k in keys}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _measure(args: list[str], env: dict, repeat: int) -> tuple[dict, list[dict]]:
    """One warm-up run (it fills the bytecode cache; its figures are kept as "cold"), then `repeat` runs."""
    cold = run_child("bench.parse_time", args, env)
    return cold, [run_child("bench.parse_time", args, env) for _ in range(repeat)]


def run(repeat: int = 5, results_dir: Path | None = None) -> dict:
    """Measure parse time of each DAG file and the plugins' import time; print and write parse_time.json."""
    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    empty_plugins = workdir / "empty-plugins"
    empty_plugins.mkdir()
    env = child_env(workdir)
    phase_keys = ("airflow_import_s", "processor_imports_s", "parse_s", "serialize_s")
    doc: dict = {"repeat": repeat, "goal_parse_s": GOAL_PARSE_S, "dag_files": {}}
    try:
        for dag_file in sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_")):
            log(f"parse: {dag_file.name}, 1 warm-up + {repeat} runs")
            cold, runs = _measure(["parse", str(dag_file)], env, repeat)
            phases = _medians(runs, phase_keys)
            doc["dag_files"][dag_file.name] = {
                **phases,
                "pass": phases["parse_s"] < GOAL_PARSE_S and not runs[-1]["import_errors"],
                "dags": runs[-1]["dags"],
                "import_errors": runs[-1]["import_errors"],
                "packages_imported_by_parse": runs[-1]["packages_imported_by_parse"],
                "cold": {k: round(cold[k], 4) for k in phase_keys},
                "runs": runs,
            }

        log(f"plugins: ensure_plugins_loaded() with plugins/ and with an empty folder, 1 warm-up + {repeat} runs each")
        _, ours = _measure(["plugins"], {**env, "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR)}, repeat)
        _, empty = _measure(["plugins"], {**env, "AIRFLOW__CORE__PLUGINS_FOLDER": str(empty_plugins)}, repeat)
        log(f"plugins: importing the mlops modules one by one, 1 warm-up + {repeat} runs")
        modules = [r["seconds"] for r in _measure(["modules"], env, repeat)[1]]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ours_s, empty_s = median([r["seconds"] for r in ours]), median([r["seconds"] for r in empty])
    ours_modules = set(ours[-1]["new_top_level_modules"]) - set(empty[-1]["new_top_level_modules"])
    plugin_files = {p.stem for p in PLUGINS_DIR.rglob("*.py")}
    doc["plugins"] = {
        "folder": str(PLUGINS_DIR),
        "ensure_plugins_loaded_s": round(ours_s, 4),
        "empty_folder_s": round(empty_s, 4),
        "added_s": round(ours_s - empty_s, 4),
        "plugins": ours[-1]["plugins"],
        "import_errors": ours[-1]["import_errors"],
        # Files of plugins/ the loader registered as top-level modules (sys.modules["config"], ...).
        "top_level_names_registered": sorted(ours_modules & plugin_files),
        "third_party_packages_pulled_in": _third_party(sorted(ours_modules - plugin_files)),
        "runs": {"ours": ours, "empty": empty},
    }
    doc["module_imports_s"] = {m: round(median([r[m] for r in modules]), 4) for m in modules[0]}

    print("\n".join(_report(doc)), flush=True)
    path = write_results("parse_time", doc, results_dir)
    log(f"parse: wrote {path}")
    return doc


def _report(doc: dict) -> list[str]:
    lines = [
        f"\nDAG parse time (median of {doc['repeat']} fresh processes; goal: parse < {GOAL_PARSE_S * 1000:.0f} ms)"
    ]
    rows = [
        [
            name,
            _ms(r["airflow_import_s"]),
            _ms(r["processor_imports_s"]),
            _ms(r["parse_s"]),
            _ms(r["serialize_s"]),
            len(r["dags"]),
            "ERROR" if r["import_errors"] else verdict(r["pass"]),
        ]
        for name, r in doc["dag_files"].items()
    ]
    headers = ["DAG file", "import airflow ms", "processor imports ms", "parse ms", "serialize ms", "DAGs", "parse"]
    lines.append(table(headers, rows))
    for name, r in doc["dag_files"].items():
        for path, err in r["import_errors"].items():
            lines.append(f"{name}: import error in {path}:\n{err}")
        if r["packages_imported_by_parse"]:
            lines.append(
                f"{name}: third-party packages first imported by the parse: {', '.join(r['packages_imported_by_parse'])}"
            )
        cold = r["cold"]
        lines.append(
            f"{name}: with an empty bytecode cache (all compiled from source): import airflow "
            f"{_ms(cold['airflow_import_s'])} ms, parse {_ms(cold['parse_s'])} ms"
        )

    p = doc["plugins"]
    lines.append(f"\nplugins/ at Airflow start-up (median of {doc['repeat']} fresh processes)")
    lines.append(
        table(
            ["plugins folder", "ensure_plugins_loaded ms"],
            [["plugins/", _ms(p["ensure_plugins_loaded_s"])], ["(empty folder)", _ms(p["empty_folder_s"])]],
        )
    )
    lines.append(f"added by plugins/: {_ms(p['added_s'])} ms in every process that loads plugins")
    lines.append(f"AirflowPlugin classes found: {', '.join(p['plugins']) or 'none'}")
    if p["import_errors"]:
        lines.append(f"plugin import errors: {p['import_errors']}")
    if p["top_level_names_registered"]:
        lines.append(f"files imported as top-level modules: {', '.join(p['top_level_names_registered'])}")
    if p["third_party_packages_pulled_in"]:
        lines.append(f"third-party packages they pull in: {', '.join(p['third_party_packages_pulled_in'])}")
    lines.append("\nmlops modules, imported one after another after `import airflow` (each row: what it adds)")
    lines.append(table(["module", "ms"], [[m, f"{s * 1000:.1f}"] for m, s in doc["module_imports_s"].items()]))
    return lines


if __name__ == "__main__":  # child: python -m bench.parse_time <parse FILE | plugins | modules> <out file>
    _mode, *_args, _out = sys.argv[1:]
    write_child_result(_out, CHILDREN[_mode](*_args))
