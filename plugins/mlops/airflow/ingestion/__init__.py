"""Ingestion DAGs: one per source file, thin operators over `mlops.ingestion`."""
