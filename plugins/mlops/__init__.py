"""The MLOps platform library, one package per stage of a model's life.

    settings, project      the environment's settings; where configuration lives
    aws/                   S3 and DynamoDB helpers, the streaming multipart writer
    lake/                  the S3 layout, manifests, the scientists' reader
    ingestion/             sources into raw, validated, published as curated datasets
    registry/              model packages, versions, metrics history, summaries
    training/              model config, training data, the job request, the gate
    airflow/               the only package that imports Airflow: DAG factories and thin operators

A package imports only packages listed above it (tests/test_imports.py keeps it so); nothing
here imports the embedded local stack.
"""
