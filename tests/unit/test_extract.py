"""Extraction against the embedded PostgreSQL and the moto server."""

import io

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq

from mlops.ingestion.extract import ROW_GROUP_ROWS, extract_postgres, numeric_as_text, split_rows

SQL = """
SELECT patient_id, age, bmi, progression, updated_at FROM clinic.patients
WHERE updated_at >= '{start}'::timestamptz AND updated_at < '{end}'::timestamptz
ORDER BY patient_id
"""


def _count(pg, start, end):
    with psycopg2.connect(**pg) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM clinic.patients WHERE updated_at >= %s AND updated_at < %s", (start, end))
        return cur.fetchone()[0]


def _keys(prefix):
    return lambda number: f"{prefix}/data-{number}.parquet"


def _table(s3, bucket, key):
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_extracts_exactly_the_interval(s3, pg, pg_uri, seeded_clinic):
    bucket = s3.buckets["raw"]
    [result] = extract_postgres(
        s3, uri=pg_uri, sql=SQL.format(start="2026-10-02", end="2026-10-03"), bucket=bucket, key_of=_keys("k")
    )
    expected = _count(pg, "2026-10-02", "2026-10-03")
    assert expected > 0
    assert result.rows == expected
    table = _table(s3, bucket, "k/data-0.parquet")
    assert table.num_rows == expected
    assert table.column_names == ["patient_id", "age", "bmi", "progression", "updated_at"]
    assert str(table.schema.field("updated_at").type).startswith("timestamp[us")
    stamps = table.column("updated_at").to_pylist()
    assert min(stamps).isoformat() >= "2026-10-02" and max(stamps).isoformat() < "2026-10-03"


def test_rerun_writes_identical_bytes(s3, pg_uri, seeded_clinic):
    bucket = s3.buckets["raw"]
    sql = SQL.format(start="2026-10-01", end="2026-10-08")
    [first] = extract_postgres(s3, uri=pg_uri, sql=sql, bucket=bucket, key_of=_keys("k"))
    [second] = extract_postgres(s3, uri=pg_uri, sql=sql, bucket=bucket, key_of=_keys("k"))
    assert first.sha256 == second.sha256
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k/data-0.parquet"]


def test_empty_interval_gives_a_valid_empty_file(s3, pg_uri, seeded_clinic):
    bucket = s3.buckets["raw"]
    [result] = extract_postgres(
        s3, uri=pg_uri, sql=SQL.format(start="2030-01-01", end="2030-01-02"), bucket=bucket, key_of=_keys("e")
    )
    assert result.rows == 0
    table = _table(s3, bucket, "e/data-0.parquet")
    assert table.num_rows == 0 and "patient_id" in table.column_names


def test_large_extract_streams_in_row_groups(s3, pg, pg_uri):
    """A table larger than one row group is written group by group, not materialised whole."""
    rows = ROW_GROUP_ROWS * 3 + 17
    with psycopg2.connect(**pg) as conn, conn.cursor() as cur:
        cur.execute(
            "DROP TABLE IF EXISTS big; CREATE TABLE big AS SELECT g AS id, g * 0.5 AS x, md5(g::text) AS s FROM generate_series(1, %s) g",
            (rows,),
        )
    [result] = extract_postgres(
        s3, uri=pg_uri, sql="SELECT * FROM big ORDER BY id", bucket=s3.buckets["raw"], key_of=_keys("big")
    )
    assert result.rows == rows
    meta = pq.ParquetFile(
        io.BytesIO(s3.get_object(Bucket=s3.buckets["raw"], Key="big/data-0.parquet")["Body"].read())
    ).metadata
    assert meta.num_rows == rows
    assert meta.num_row_groups >= 3


def test_numeric_columns_arrive_as_exact_text_in_the_query_order(s3, pg, pg_uri):
    with psycopg2.connect(**pg) as conn, conn.cursor() as cur:
        cur.execute(
            "DROP TABLE IF EXISTS prices; CREATE TABLE prices (id int, price numeric(12, 2), ratio numeric, note text);"
            "INSERT INTO prices VALUES (3, 10.50, 0.333333333333333333333, 'c'), (1, -0.01, 'NaN', 'a'),"
            " (2, NULL, 12345678901234567890.5, 'b')"
        )
    # A trailing comment and semicolon must survive the wrapping subquery.
    sql = 'SELECT id, price, ratio, note AS "the note" FROM prices ORDER BY id DESC -- newest first\n;'
    [result] = extract_postgres(s3, uri=pg_uri, sql=sql, bucket=s3.buckets["raw"], key_of=_keys("prices"))
    table = _table(s3, s3.buckets["raw"], "prices/data-0.parquet")
    assert result.rows == 3
    assert table.column_names == ["id", "price", "ratio", "the note"]
    assert table.schema.field("price").type == pa.string()  # not ADBC's arrow.opaque extension
    assert table.column("id").to_pylist() == [3, 2, 1]
    assert table.column("price").to_pylist() == ["10.50", None, "-0.01"]
    assert table.column("ratio").to_pylist() == ["0.333333333333333333333", "12345678901234567890.5", "NaN"]
    assert table.column("the note").to_pylist() == ["c", "b", "a"]


def _field(name, typname=None):
    return pa.field(name, pa.string(), metadata={"ADBC:postgresql:typname": typname} if typname else None)


def test_numeric_as_text_wraps_only_when_a_numeric_column_is_there():
    plain = pa.schema([_field("a", "text"), _field("b")])
    assert numeric_as_text("SELECT a, b FROM t", plain) == "SELECT a, b FROM t"
    mixed = pa.schema([_field("a", "int8"), _field('we"ird', "numeric")])
    assert numeric_as_text("SELECT 1;", mixed) == (
        'SELECT "a", "we""ird"::text AS "we""ird" FROM (\nSELECT 1\n) AS extracted'
    )
    # Duplicate names cannot be selected by name from a subquery: left to the driver as they are.
    duplicated = pa.schema([_field("x", "numeric"), _field("x", "numeric")])
    assert numeric_as_text("SELECT a.x, b.x FROM a, b", duplicated) == "SELECT a.x, b.x FROM a, b"


def test_a_large_interval_is_split_into_files_of_at_most_rows_per_file(s3, pg, pg_uri):
    with psycopg2.connect(**pg) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS split; CREATE TABLE split AS SELECT g AS id FROM generate_series(1, 2500) g")
    bucket = s3.buckets["raw"]
    results = extract_postgres(
        s3, uri=pg_uri, sql="SELECT id FROM split ORDER BY id", bucket=bucket, key_of=_keys("split"), rows_per_file=1000
    )
    assert [r.rows for r in results] == [1000, 1000, 500]
    assert [r.key for r in results] == ["split/data-0.parquet", "split/data-1.parquet", "split/data-2.parquet"]
    ids = [i for r in results for i in _table(s3, bucket, r.key).column("id").to_pylist()]
    assert ids == list(range(1, 2501))  # every row once, in query order across the files


def test_split_rows_slices_batches_at_run_boundaries():
    batches = [pa.record_batch({"x": list(range(start, start + 4))}) for start in (0, 4, 8)]
    runs = [[b.column(0).to_pylist() for b in run] for run in split_rows(iter(batches), 5)]
    assert runs == [[[0, 1, 2, 3], [4]], [[5, 6, 7], [8, 9]], [[10, 11]]]
    assert [list(run) for run in split_rows(iter([]), 5)] == [[]]  # an empty input is one empty run
    exact = [[b.num_rows for b in run] for run in split_rows(iter(batches[:2]), 4)]
    assert exact == [[4], [4]]  # no trailing empty run when the rows end on a boundary


def test_interval_rerun_removes_raw_objects_it_no_longer_writes(s3, pg_uri, seeded_clinic):
    from mlops.ingestion.steps import extract_postgres_interval

    bucket, prefix = s3.buckets["raw"], "clinic/patients/ds=2026-10-02/"
    for stale in ("data.parquet", "data-00007.parquet"):  # an older layout's file, a file of a larger run
        s3.put_object(Bucket=bucket, Key=prefix + stale, Body=b"old")
    sql = SQL.format(start="2026-10-02", end="2026-10-03")
    parts = extract_postgres_interval(
        s3, uri=pg_uri, sql=sql, raw_bucket=bucket, source="clinic", table="patients", ds="2026-10-02"
    )
    assert [p["part"] for p in parts] == ["data-00000"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]] == [
        prefix + "data-00000.parquet"
    ]


def test_a_bad_row_rejects_only_the_object_it_is_in_and_the_message_names_it(s3, pg_uri, seeded_clinic):
    from mlops.lake import layout
    from tests.helpers.clinic import patients_sql, validate_patients

    start, end, ds, bucket = "2026-10-01", "2026-10-08", "2026-10-01", s3.buckets["raw"]
    sql = patients_sql(start, end)
    last = f"(SELECT max(patient_id) FROM clinic.patients WHERE updated_at >= '{start}' AND updated_at < '{end}')"
    sql = sql.replace("    age,", f"    CASE WHEN patient_id = {last} THEN 300 ELSE age END AS age,", 1)
    keys = lambda number: layout.raw_key("clinic", "patients", ds, layout.data_part(number))  # noqa: E731
    results = extract_postgres(s3, uri=pg_uri, sql=sql, bucket=bucket, key_of=keys, rows_per_file=20)
    assert len(results) >= 2
    parts = [r.to_dict() | {"part": layout.data_part(n)} for n, r in enumerate(results)]
    report = validate_patients(s3, parts, ds)
    bad = layout.data_part(len(results) - 1)
    assert [r["part"] for r in report.rejected] == [bad]
    assert len(report.accepted) == len(results) - 1
    assert f"partition clinic/patients/ds={ds} part {bad}" in report.message
    assert "column 'age': 1 row(s) broke it" in report.message
    quarantined = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="_quarantine/")["Contents"]]
    assert f"_quarantine/clinic/patients/ds={ds}/{bad}.parquet" in quarantined
