"""Build one predictions DAG per model file (include/models/*.yaml): `ingest_predictions_<model>`.

    extract_predictions (capture files of the interval -> raw Parquet)
      -> validate_predictions (the suite generated from the model file; rejects quarantined)
      -> publish_predictions (curated predictions_<model>/ds=<day>, atomically; Asset updated)

Generated from the model files, as training and deployment are, so adding a model needs no Python
and no source file. Daily intervals like the other ingestion DAGs: a run owns the capture files
whose hour folder (`yyyy/mm/dd/hh/`) falls in its interval, so a rerun or a backfill of a day is
the same operation and replaces that day's partition, never duplicates it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlops.airflow.defaults import default_args
from mlops.settings import Settings

SCHEDULE = "@daily"
START = datetime(2026, 1, 1, tzinfo=UTC)


def _doc(model, schema, capture, endpoint: str) -> str:
    outputs = ", ".join(f"`{c}`" for c in schema.output_types())
    who = (
        "the endpoint's own data capture"
        if capture.enabled
        else "`mlops.serving.predict` (client-side capture: the endpoint does not capture; predictions other "
        "clients request from it are not recorded)"
    )
    return (
        f"### Predictions of model `{model.name}` ({model.problem_type})\n\n"
        f"Every prediction of endpoint `{endpoint}`, captured by {who} under "
        f"`s3://<artifacts>/{capture.prefix}/{endpoint}/<variant>/yyyy/mm/dd/hh/`, becomes curated dataset "
        f"`{schema.dataset}`: one row per predicted row with `inference_id`, `event_id`, `row`, `variant`, "
        f"`model_version`, `inference_time`, the model's {len(schema.features)} features and {outputs}. "
        "Join it with ground truth on (`inference_id`, `row`).\n\n"
        "Each run owns the capture files whose hour folder falls in its data interval: reruns and backfills "
        "replace the day's partition, never duplicate it. A capture record that cannot be read (not JSON, "
        "input and output row counts differ, ...) rejects the day's batch: it is quarantined with the reasons, "
        "alerted, and the curated dataset is not changed. The suite is generated from "
        f"`include/models/{model.name}.yaml` (column contract with types, identity never null, probabilities "
        "in [0, 1])."
    )


def build_predictions_dag(model, capture, settings: Settings | None = None):
    """`model`: a mlops.training.config.ModelConfig; `capture`: its DataCaptureSettings."""
    from airflow.sdk import DAG, CronDataIntervalTimetable

    from mlops.airflow.assets import curated_asset
    from mlops.airflow.ingestion.operators import PublishCuratedOperator, ValidateRawOperator
    from mlops.airflow.serving.operators import CaptureToRawOperator
    from mlops.registry.packages import endpoint_name
    from mlops.serving.capture import CHANGED_AT, KEY, SOURCE, schema_for

    settings = settings or Settings.from_env()
    schema = schema_for(model)
    endpoint = endpoint_name(model.name)
    with DAG(
        dag_id=f"ingest_predictions_{model.name}",
        description=f"Captured predictions of {model.name} as the curated dataset {schema.dataset}",
        doc_md=_doc(model, schema, capture, endpoint),
        schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=4,  # intervals own disjoint hour folders and partitions
        default_args=default_args(model.owner, 2, settings),
        tags=["ingestion", "predictions", f"model:{model.name}", *model.tags],
    ) as dag:
        extract = CaptureToRawOperator(
            task_id="extract_predictions", schema=schema, capture_prefix=capture.prefix, endpoint=endpoint
        )
        validate = ValidateRawOperator(
            task_id="validate_predictions",
            source=SOURCE,
            table=model.name,
            dataset=schema.dataset,
            suite_path=schema.suite(),  # generated, not a file
            extraction=extract.output,
            fail_on_reject=True,  # the day is one batch: a bad record holds it back
        )
        publish = PublishCuratedOperator(
            task_id="publish_predictions",
            source=SOURCE,
            dataset=schema.dataset,
            key=KEY,
            changed_at=CHANGED_AT,
            validation=validate.output,
            outlets=[curated_asset(schema.dataset, settings)],
        )
        extract >> validate >> publish
    return dag


def build_predictions_dags(directory: Path | None = None) -> dict:
    """All predictions DAGs, keyed by dag_id; a model file that does not load becomes a
    `config-error` stand-in DAG naming file and field, and the other DAGs stay."""
    from mlops.airflow.config_error import build_each
    from mlops.deployment.config import load_deployment
    from mlops.training.config import MODELS_DIR, load_model

    settings = Settings.from_env()
    directory = directory or MODELS_DIR

    def build(path: Path):
        model = load_model(path)
        return build_predictions_dag(model, load_deployment(model.name, directory).data_capture, settings)

    return build_each(
        sorted(directory.glob("*.yaml")),
        build,
        prefix="ingest_predictions",
        stage="ingestion",
        owner="data-science",
        settings=settings,
    )
