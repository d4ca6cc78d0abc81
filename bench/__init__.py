"""Benchmarks of the platform: ingest throughput and memory, DAG parse time. Run with `python -m bench`."""
