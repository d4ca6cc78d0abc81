"""Extraction against the embedded PostgreSQL and the moto server."""

import io

import psycopg2
import pyarrow.parquet as pq

from mlops.work.extract import ROW_GROUP_ROWS, extract_postgres

SQL = """
SELECT patient_id, age, bmi, progression, updated_at FROM clinic.patients
WHERE updated_at >= '{start}'::timestamptz AND updated_at < '{end}'::timestamptz
ORDER BY patient_id
"""


def _count(pg, start, end):
    with psycopg2.connect(**pg) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM clinic.patients WHERE updated_at >= %s AND updated_at < %s", (start, end))
        return cur.fetchone()[0]


def _table(s3, bucket, key):
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_extracts_exactly_the_interval(s3, pg, pg_uri, seeded_clinic):
    bucket = s3.buckets["raw"]
    result = extract_postgres(s3, pg_uri, SQL.format(start="2026-10-02", end="2026-10-03"), bucket, "k/data.parquet")
    expected = _count(pg, "2026-10-02", "2026-10-03")
    assert expected > 0
    assert result.rows == expected
    table = _table(s3, bucket, "k/data.parquet")
    assert table.num_rows == expected
    assert table.column_names == ["patient_id", "age", "bmi", "progression", "updated_at"]
    assert str(table.schema.field("updated_at").type).startswith("timestamp[us")
    stamps = table.column("updated_at").to_pylist()
    assert min(stamps).isoformat() >= "2026-10-02" and max(stamps).isoformat() < "2026-10-03"


def test_rerun_writes_identical_bytes(s3, pg_uri, seeded_clinic):
    bucket = s3.buckets["raw"]
    sql = SQL.format(start="2026-10-01", end="2026-10-08")
    first = extract_postgres(s3, pg_uri, sql, bucket, "k/data.parquet")
    second = extract_postgres(s3, pg_uri, sql, bucket, "k/data.parquet")
    assert first.sha256 == second.sha256
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k/data.parquet"]


def test_empty_interval_gives_a_valid_empty_file(s3, pg_uri, seeded_clinic):
    bucket = s3.buckets["raw"]
    result = extract_postgres(s3, pg_uri, SQL.format(start="2030-01-01", end="2030-01-02"), bucket, "e.parquet")
    assert result.rows == 0
    table = _table(s3, bucket, "e.parquet")
    assert table.num_rows == 0 and "patient_id" in table.column_names


def test_large_extract_streams_in_row_groups(s3, pg, pg_uri):
    """A table larger than one row group is written group by group, not materialised whole."""
    rows = ROW_GROUP_ROWS * 3 + 17
    with psycopg2.connect(**pg) as conn, conn.cursor() as cur:
        cur.execute(
            "DROP TABLE IF EXISTS big; CREATE TABLE big AS SELECT g AS id, g * 0.5 AS x, md5(g::text) AS s FROM generate_series(1, %s) g",
            (rows,),
        )
    result = extract_postgres(s3, pg_uri, "SELECT * FROM big ORDER BY id", s3.buckets["raw"], "big.parquet")
    assert result.rows == rows
    meta = pq.ParquetFile(
        io.BytesIO(s3.get_object(Bucket=s3.buckets["raw"], Key="big.parquet")["Body"].read())
    ).metadata
    assert meta.num_rows == rows
    assert meta.num_row_groups >= 3
