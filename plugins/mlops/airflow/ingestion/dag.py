"""Build one ingestion DAG per source configuration file.

    postgres source, per table:   extract_<t> -> validate_<t> -> publish_<t>
    landing files, per table:     extract_<t> -> validate_<t> -> publish_<t> -> check_quarantine_<t>

The graph depends only on the configuration files, never on the environment, so it is the
same on MWAA and on the embedded stack.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlops.airflow.defaults import default_args
from mlops.ingestion.config import EXPECTATIONS_DIR, SQL_DIR, SourceConfig
from mlops.settings import Settings


def _doc(cfg: SourceConfig) -> str:
    rows = "\n".join(
        f"| `{t.name}` | `{t.dataset}` | `{t.key}` | `{t.changed_at or '-'}` | `expectations/{t.suite_name}.json` |"
        for t in cfg.tables
    )
    return (
        f"### Ingestion of source `{cfg.name}` ({cfg.kind})\n\n{cfg.description}\n\n"
        "Each run processes exactly its data interval: reruns and backfills replace the interval's "
        "partition, never duplicate it. Rejected batches are quarantined and alerted; curated "
        "partitions are published atomically through their `_manifest.json`.\n\n"
        f"Configured in `include/sources/{cfg.path.name if cfg.path else cfg.name + '.yaml'}`.\n\n"
        "| table | curated dataset | key | changed-at column | suite |\n|---|---|---|---|---|\n" + rows
    )


def build_source_dag(cfg: SourceConfig, settings: Settings | None = None):
    from airflow.sdk import DAG, CronDataIntervalTimetable

    from mlops.airflow.assets import curated_asset
    from mlops.airflow.ingestion.operators import (
        CheckQuarantineOperator,
        LandingToRawOperator,
        PostgresToRawOperator,
        PublishCuratedOperator,
        ValidateRawOperator,
    )

    settings = settings or Settings.from_env()
    landing = cfg.kind == "landing_files"
    with DAG(
        dag_id=f"ingest_{cfg.name}",
        description=cfg.description.strip().splitlines()[0],
        doc_md=_doc(cfg),
        # Explicit data intervals: each run owns [start, end), so reruns and backfills are one operation.
        schedule=CronDataIntervalTimetable(cfg.schedule, timezone="UTC"),
        start_date=datetime.combine(cfg.start_date, datetime.min.time(), tzinfo=UTC),
        catchup=False,
        # Landing runs take files by tagging them; one run at a time keeps two runs from
        # taking the same file. Database intervals are independent and may run side by side.
        max_active_runs=1 if landing else 4,
        template_searchpath=[str(SQL_DIR)],
        default_args=default_args(cfg.owner, cfg.retries, settings),
        tags=["ingestion", f"source:{cfg.name}", cfg.kind, *cfg.tags],
    ) as dag:
        for table in cfg.tables:
            if landing:
                extract = LandingToRawOperator(
                    task_id=f"extract_{table.name}",
                    source=cfg.name,
                    table=table.name,
                    landing_prefix=cfg.landing_prefix,
                )
            else:
                extract = PostgresToRawOperator(
                    task_id=f"extract_{table.name}",
                    source=cfg.name,
                    table=table.name,
                    conn_id=cfg.connection_id,
                    sql=f"{cfg.name}/{table.name}.sql",
                )
            validate = ValidateRawOperator(
                task_id=f"validate_{table.name}",
                source=cfg.name,
                table=table.name,
                dataset=table.dataset,
                suite_path=str(EXPECTATIONS_DIR / f"{table.suite_name}.json"),
                extraction=extract.output,
                fail_on_reject=not landing,
            )
            publish = PublishCuratedOperator(
                task_id=f"publish_{table.name}",
                source=cfg.name,
                dataset=table.dataset,
                key=table.key,
                changed_at=table.changed_at,
                validation=validate.output,
                outlets=[curated_asset(table.dataset, settings)],
            )
            extract >> validate >> publish
            if landing:
                publish >> CheckQuarantineOperator(
                    task_id=f"check_quarantine_{table.name}", dataset=table.dataset, validation=validate.output
                )
    return dag


def build_source_dags(directory: Path | None = None) -> dict:
    """All ingestion DAGs, keyed by dag_id (for a DAG file's globals); a source file that does not
    load becomes a `config-error` stand-in DAG naming file and field, and the other DAGs stay."""
    from mlops.airflow.config_error import build_each
    from mlops.ingestion.config import SOURCES_DIR, load_source

    settings = Settings.from_env()
    return build_each(
        sorted((directory or SOURCES_DIR).glob("*.yaml")),
        lambda path: build_source_dag(load_source(path), settings),
        prefix="ingest",
        stage="ingestion",
        owner="data-engineering",
        settings=settings,
    )
