"""Ingestion: source configuration, extraction, landing files, validation, publishing, one interval's steps."""
