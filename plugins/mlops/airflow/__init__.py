"""The only package that imports Airflow: defaults, Assets, and one subpackage per stage (DAG factory + operators)."""
