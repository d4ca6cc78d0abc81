"""The DAG ids a project's configuration files define: `ingest_<source>` per file in
include/sources/, `train_<model>`, `deploy_<model>` and `ingest_predictions_<model>` per file in include/models/ (the loaders
require each file to be named after its source or model, and a file that does not load keeps its
id as a stand-in)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def expected_dag_ids(include: Path = REPO / "include") -> set[str]:
    models = [p.stem for p in (include / "models").glob("*.yaml")]
    return (
        {f"ingest_{p.stem}" for p in (include / "sources").glob("*.yaml")}
        | {f"train_{m}" for m in models}
        | {f"deploy_{m}" for m in models}
        | {f"ingest_predictions_{m}" for m in models}
    )
