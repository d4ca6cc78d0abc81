"""Plain-Python work parts: no Airflow imports, tested with plain pytest."""
