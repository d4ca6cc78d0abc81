"""Predictions datasets: one `ingest_predictions_<model>` DAG per model file, thin operators over
`mlops.serving.capture`, validated and published by the ingestion stage's own operators."""
