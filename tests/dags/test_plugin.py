"""The AirflowPlugin loads, and the plugin loader imports nothing of the library under
stray top-level names (plugins/.airflowignore)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
from airflow import plugins_manager
plugins = plugins_manager.get_plugin_info() if hasattr(plugins_manager, "get_plugin_info") else []
loaded = [m for m in ("extract", "operators", "settings", "reader", "layout", "config") if m in sys.modules]
print("RESULT" + json.dumps({"plugins": [p["name"] for p in plugins], "macros": [str(m) for p in plugins for m in p.get("macros", [])], "stray": loaded}))
"""


def test_plugin_loads_with_macros_and_no_stray_modules(tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    }
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, proc.stderr[-3000:]
    result = json.loads(line[len("RESULT") :])
    assert result["plugins"] == ["mlops"]
    assert any("curated_uri" in m for m in result["macros"])
    assert result["stray"] == []


def test_macros_render_layout_paths(monkeypatch):
    monkeypatch.setenv("MLOPS_CURATED_BUCKET", "cur")
    monkeypatch.setenv("MLOPS_RAW_BUCKET", "raw")
    sys.path.insert(0, str(REPO / "plugins"))
    import mlops_plugin

    assert mlops_plugin.curated_uri("diabetes_patients", "2026-10-01") == "s3://cur/diabetes_patients/ds=2026-10-01/"
    assert mlops_plugin.raw_uri("clinic", "patients", "2026-10-01") == "s3://raw/clinic/patients/ds=2026-10-01/"
