"""The predictions DAGs as built from the model files: one per model, daily intervals, the
ingestion stage's validate and publish operators behind the capture extraction."""

from __future__ import annotations

import pytest

from mlops.airflow.serving.dag import build_predictions_dags
from mlops.ingestion.validate import column_contract


@pytest.fixture(scope="module")
def dags():
    return build_predictions_dags()


def test_one_daily_predictions_dag_per_model(dags):
    from mlops.training.config import MODELS_DIR, load_models

    # one per model file (a model added by configuration gets its own), the repo's two among them
    assert set(dags) == {f"ingest_predictions_{m.name}" for m in load_models(MODELS_DIR)}
    assert {"ingest_predictions_diabetes_progression", "ingest_predictions_digits_classifier"} <= set(dags)
    for dag in dags.values():
        assert dag.timetable.expression in ("@daily", "0 0 * * *") and not dag.catchup
        assert {"ingestion", "predictions"} <= set(dag.tags)


def test_extract_validate_publish_on_the_ingestion_operators(dags):
    from mlops.airflow.ingestion.operators import PublishCuratedOperator, ValidateRawOperator

    dag = dags["ingest_predictions_digits_classifier"]
    assert dag.get_task("extract_predictions").downstream_task_ids == {"validate_predictions"}
    assert dag.get_task("validate_predictions").downstream_task_ids == {"publish_predictions"}
    validate, publish = dag.get_task("validate_predictions"), dag.get_task("publish_predictions")
    assert isinstance(validate, ValidateRawOperator) and validate.fail_on_reject
    assert isinstance(publish, PublishCuratedOperator)
    assert [o.uri for o in publish.outlets] == ["s3://mlops-curated/predictions_digits_classifier"]
    assert publish.key == ["inference_id", "row"] and publish.changed_at == "inference_time"
    contract = column_contract(validate.suite_path)  # the generated suite carries the column contract
    assert contract.columns[:6] == ["inference_id", "event_id", "row", "variant", "model_version", "inference_time"]
    assert contract.types["predicted_label"] == ["int64"] and contract.types["pixel_63"] == ["float64"]
    extract = dags["ingest_predictions_diabetes_progression"].get_task("extract_predictions")
    assert (extract.endpoint, extract.capture_prefix) == ("diabetes-progression", "data-capture")


def test_a_model_file_that_does_not_load_gets_a_stand_in(tmp_path):
    (tmp_path / "broken.yaml").write_text("model: broken\nproblem_type: clustering\n")
    dags = build_predictions_dags(tmp_path)
    assert list(dags) == ["ingest_predictions_broken"] and "config-error" in dags["ingest_predictions_broken"].tags
