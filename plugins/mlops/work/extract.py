"""Extract one data interval from a source into a Parquet file, in bounded memory.

PostgreSQL sources are read with the ADBC PostgreSQL driver, which runs `COPY ... TO STDOUT
(FORMAT binary)` and hands back Arrow record batches: rows never become Python objects, and
each batch is written as a Parquet row group before the next is read, so memory depends on
the batch size, not on the table size. The Parquet file is staged on local disk and uploaded
with a multipart transfer. Landing CSV files are converted the same way with Arrow's
streaming CSV reader.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass

from mlops.work.s3 import TRANSFER, sha256_file

log = logging.getLogger(__name__)

# Arrow batches of about 8 MiB from the driver; Parquet row groups of at most this many rows.
BATCH_SIZE_HINT_BYTES = 8 * 1024 * 1024
ROW_GROUP_ROWS = 128 * 1024


@dataclass(frozen=True)
class ExtractResult:
    bucket: str
    key: str
    rows: int
    bytes: int
    sha256: str
    seconds: float
    columns: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


class _ParquetSink:
    """Writes Arrow batches into one Parquet file, coalescing small batches into row groups."""

    def __init__(self, path: str):
        self.path = path
        self.writer = None
        self.pending = []
        self.pending_rows = 0
        self.rows = 0
        self.schema = None

    def write(self, batch) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.schema = batch.schema
            self.writer = pq.ParquetWriter(self.path, batch.schema, compression="zstd")
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.pending:
            self.writer.write_table(pa.Table.from_batches(self.pending, schema=self.schema))
            self.pending, self.pending_rows = [], 0

    def close(self, empty_schema=None) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:  # no rows: still write a valid, empty file with the query's schema
            self.schema = empty_schema
            self.writer = pq.ParquetWriter(self.path, empty_schema, compression="zstd")
        self._flush()
        self.writer.close()


def postgres_to_parquet(uri: str, sql: str, path: str, progress_every: int = 250_000) -> tuple[int, list[str]]:
    """Stream the rows of `sql` into a Parquet file at `path`; returns (rows, column names)."""
    import adbc_driver_postgresql.dbapi as pg_dbapi
    from adbc_driver_postgresql import StatementOptions

    sink = _ParquetSink(path)
    next_report = progress_every
    with pg_dbapi.connect(uri) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(BATCH_SIZE_HINT_BYTES)})
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        for batch in reader:
            sink.write(batch)
            if sink.rows >= next_report:
                log.info("extracted %d rows so far", sink.rows)
                next_report += progress_every
        sink.close(empty_schema=reader.schema)
    return sink.rows, list(sink.schema.names)


def csv_to_parquet(stream, path: str) -> tuple[int, list[str]]:
    """Convert a CSV byte stream (e.g. an S3 object body) into a Parquet file, batch by batch."""
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=8 * 1024 * 1024))
    sink = _ParquetSink(path)
    for batch in reader:
        sink.write(batch)
    sink.close(empty_schema=reader.schema)
    return sink.rows, list(sink.schema.names)


def upload_parquet(s3, local_path: str, bucket: str, key: str, rows: int, columns: list[str], started: float) -> ExtractResult:
    size = os.path.getsize(local_path)
    digest = sha256_file(local_path)
    s3.upload_file(local_path, bucket, key, Config=TRANSFER, ExtraArgs={"Metadata": {"sha256": digest, "rows": str(rows)}})
    return ExtractResult(bucket, key, rows, size, digest, round(time.monotonic() - started, 3), columns)


def extract_postgres(s3, uri: str, sql: str, bucket: str, key: str) -> ExtractResult:
    """Extract `sql` from PostgreSQL to `s3://bucket/key` as one Parquet object.

    The object is replaced whole by the upload, so a rerun of the interval leaves exactly one
    object with the new content, and a killed run leaves the previous object (or none).
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlops-extract-") as tmp:
        local = os.path.join(tmp, "data.parquet")
        rows, columns = postgres_to_parquet(uri, sql, local)
        result = upload_parquet(s3, local, bucket, key, rows, columns, started)
    log.info("extracted %d rows (%d bytes) to s3://%s/%s in %.1fs", rows, result.bytes, bucket, key, result.seconds)
    return result


def extract_csv_object(s3, src_bucket: str, src_key: str, bucket: str, key: str) -> ExtractResult:
    """Convert one landing CSV object to a raw Parquet object."""
    started = time.monotonic()
    body = s3.get_object(Bucket=src_bucket, Key=src_key)["Body"]
    with tempfile.TemporaryDirectory(prefix="mlops-extract-") as tmp:
        local = os.path.join(tmp, "data.parquet")
        rows, columns = csv_to_parquet(body, local)
        result = upload_parquet(s3, local, bucket, key, rows, columns, started)
    log.info("converted s3://%s/%s (%d rows) to s3://%s/%s", src_bucket, src_key, rows, bucket, key)
    return result
