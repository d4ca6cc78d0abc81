"""The MLOps platform library.

`mlops.work` does the work in plain Python (extraction, S3 layout, validation, publishing,
reading); `mlops.airflow` adapts it to Airflow (operators, DAG factories); `mlops.plugin`
is the AirflowPlugin. Nothing here imports the embedded local stack.
"""
