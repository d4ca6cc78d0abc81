"""The platform's AirflowPlugin: template macros for DAG authors.

Kept tiny and import-light: every Airflow process loads it at start-up. The library itself
is the `mlops` package beside this file (ignored by the plugin loader, see .airflowignore).
"""

from airflow.plugins_manager import AirflowPlugin


def curated_uri(dataset: str, ds: str | None = None) -> str:
    """`{{ macros.mlops.curated_uri('diabetes_patients', ds) }}` -> s3://<curated>/<dataset>/ds=<ds>/"""
    from mlops.settings import Settings

    base = f"s3://{Settings.from_env().curated_bucket}/{dataset}/"
    return f"{base}ds={ds}/" if ds else base


def raw_uri(source: str, table: str, ds: str) -> str:
    """`{{ macros.mlops.raw_uri('clinic', 'patients', ds) }}` -> s3://<raw>/<source>/<table>/ds=<ds>/"""
    from mlops.settings import Settings

    return f"s3://{Settings.from_env().raw_bucket}/{source}/{table}/ds={ds}/"


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    macros = [curated_uri, raw_uri]
