"""Functions with several parameters of the same kind take them by name (issue 9), so a swapped
argument is a TypeError at the call instead of a silently wrong bucket, key or interval."""

import importlib
import inspect

import pytest

# (module, function, positional parameters before the change, positional parameters kept)
SIGNATURES = [
    ("mlops.ingestion.publish", "publish_partition", 11, 1),
    ("mlops.ingestion.publish", "quarantine", 8, 1),
    ("mlops.ingestion.steps", "publish_accepted", 10, 1),
    ("mlops.ingestion.steps", "extract_postgres_interval", 7, 1),
    ("mlops.ingestion.steps", "extract_landing_interval", 8, 1),
    ("mlops.ingestion.steps", "validate_parts", 7, 1),
    ("mlops.ingestion.extract", "extract_postgres", 6, 1),
    ("mlops.ingestion.extract", "extract_csv_object", 7, 1),
    ("mlops.ingestion.extract", "write_parquet", 5, 3),
    ("mlops.ingestion.landing", "mark", 5, 3),
    ("mlops.ingestion.landing", "content_owner", 5, 1),
    ("mlops.ingestion.landing", "claim", 7, 1),
    ("mlops.ingestion.landing", "files_for_interval", 7, 1),
    ("mlops.training.data", "assemble", 14, 1),
    ("mlops.training.data", "split_frame", 5, 2),
    ("mlops.training.data", "partition_inventory", 5, 3),
    ("mlops.training.job", "training_job_request", 8, 1),
    ("mlops.training.run", "check", 5, 2),
    ("mlops.training.run", "prepare", 6, 2),
    ("mlops.training.run", "conclude", 8, 3),
    ("mlops.registry.versions", "reserve", 11, 2),
    ("mlops.registry.metrics", "append_metrics_history", 7, 2),
    ("mlops.registry.summary", "candidate_summary", 6, 1),
    ("mlops.airflow.config_error", "config_error_dag", 6, 1),
    ("mlops.deployment.requests", "endpoint_config_request", 5, 1),
]


@pytest.mark.parametrize(("module", "name", "old_positional", "kept"), SIGNATURES, ids=[s[1] for s in SIGNATURES])
def test_the_old_positional_call_is_a_type_error(module, name, old_positional, kept):
    function = getattr(importlib.import_module(module), name)
    with pytest.raises(TypeError, match=rf"{name}\(\) takes (from \d+ to )?{kept} positional argument"):
        function(*[None] * old_positional)
    # The same values by name bind: only the way of passing them changed.
    parameters = list(inspect.signature(function).parameters)
    inspect.signature(function).bind(*[None] * kept, **dict.fromkeys(parameters[kept:old_positional]))
