"""Extract one data interval from a source into Parquet objects in S3, in bounded memory.

PostgreSQL sources are read with the ADBC PostgreSQL driver, which runs `COPY ... TO STDOUT
(FORMAT binary)` and hands back Arrow record batches: rows never become Python objects. A
reader thread keeps a few batches ahead while the main thread encodes Parquet row groups,
and the Parquet bytes stream straight into an S3 multipart upload whose parts are sent in the
background. An interval of more than `FILE_ROWS` rows becomes several objects, each
completed in the background while the next is written. Memory depends on the batch, part
and file sizes, never on the table size, and an object appears only when its upload
completes: a killed run leaves the previous object (or none), never a partial one. Landing
CSV files go the same way through Arrow's streaming CSV reader, one object per file.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from mlops.aws.s3_stream import S3StreamWriter

log = logging.getLogger(__name__)

BATCH_SIZE_HINT_BYTES = 8 * 1024 * 1024  # Arrow batches of about 8 MiB from the driver
ROW_GROUP_ROWS = 128 * 1024  # Parquet row groups of at most this many rows
# Rows per extracted Parquet object. Validation loads one object into pandas at a time (512k
# rows of the benchmark's twelve columns: 78 MiB), so several validate tasks share a small
# MWAA worker. Each object's upload also completes while the next one is written.
FILE_ROWS = 512 * 1024
PREFETCH_BATCHES = 4


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


def _prefetch(batches: Iterator, depth: int = PREFETCH_BATCHES) -> Iterator:
    """Read batches on a thread, `depth` ahead of the consumer (Arrow releases the GIL)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce():
        try:
            for b in batches:
                q.put(b)
            q.put(done)
        except BaseException as err:  # handed to the consumer
            q.put(err)

    threading.Thread(target=produce, daemon=True, name="extract-reader").start()
    while True:
        item = q.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def write_parquet(batches: Iterator, schema, sink, *, rows_before: int = 0, progress_every: int = 250_000) -> int:
    """Write Arrow batches into `sink` as Parquet, coalescing them into row groups; returns rows.

    Progress is logged as the extraction's running total: `rows_before` were written earlier.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, pending, pending_rows = 0, [], 0
    next_report = (rows_before // progress_every + 1) * progress_every
    # No dictionary pages: most extracted columns are high-cardinality, where dictionaries
    # cost encode time and size; zstd compresses the repetitive ones well anyway.
    with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd", use_dictionary=False) as writer:
        for batch in batches:
            pending.append(batch)
            pending_rows += batch.num_rows
            rows += batch.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema=schema))
                pending, pending_rows = [], 0
            if rows_before + rows >= next_report:
                log.info("extracted %d rows so far", rows_before + rows)
                next_report += progress_every
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
    return rows


def _result(sink: S3StreamWriter, rows: int, schema, started: float) -> ExtractResult:
    seconds = round(time.monotonic() - started, 3)
    return ExtractResult(sink.bucket, sink.key, rows, sink.size, sink.digest.hexdigest(), seconds, list(schema.names))


def _write_object(s3, bucket: str, key: str, schema, batches: Iterator, rows_before: int = 0):
    """(sink, rows): the batches written as Parquet into an open multipart upload, aborted on error."""
    sink = S3StreamWriter(s3, bucket, key)
    try:
        rows = write_parquet(batches, schema, sink, rows_before=rows_before)
    except BaseException:
        sink.abort()
        raise
    return sink, rows


def _stream_to_s3(s3, bucket: str, key: str, schema, batches: Iterator, started: float) -> ExtractResult:
    sink, rows = _write_object(s3, bucket, key, schema, batches)
    sink.close()
    return _result(sink, rows, schema, started)


def split_rows(batches: Iterator, rows_per_run: int) -> Iterator[Iterator]:
    """Consecutive runs of at most `rows_per_run` rows, a batch sliced where a run ends.

    There is always a first run (an empty input gives one empty run, so an empty interval
    still writes a valid file); each run must be consumed before the next is asked for.
    """
    batches = iter(batches)
    carried: list = []  # the rest of a batch sliced at the end of the previous run
    exhausted = False

    def run():
        nonlocal exhausted
        left = rows_per_run
        while left > 0:
            batch = carried.pop() if carried else next(batches, None)
            if batch is None:
                exhausted = True
                return
            if batch.num_rows > left:
                carried.append(batch.slice(left))
                batch = batch.slice(0, left)
            left -= batch.num_rows
            yield batch

    yield run()
    while not exhausted:
        if not carried:  # look ahead only at a boundary: is there another run at all?
            batch = next(batches, None)
            if batch is None:
                return
            carried.append(batch)
        yield run()


def _stream_files_to_s3(
    s3, bucket: str, key_of: Callable[[int], str], schema, batches: Iterator, started: float, rows_per_file: int
) -> list[ExtractResult]:
    """One Parquet object per `rows_per_file` rows; each upload completes in the background.

    Completing a multipart upload takes time proportional to the object on some stores
    (moto copies every part); doing it while the next file is written keeps it off the
    critical path, except for the last file.
    """
    written, total = [], 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-complete") as completing:
        for number, run in enumerate(split_rows(batches, rows_per_file)):
            sink, rows = _write_object(s3, bucket, key_of(number), schema, run, rows_before=total)
            total += rows
            log.info("wrote %d rows to s3://%s/%s; completing it", rows, bucket, sink.key)
            written.append((sink, rows, completing.submit(sink.close)))
    for _, _, completed in written:
        completed.result()
    return [_result(sink, rows, schema, started) for sink, rows, _ in written]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def numeric_as_text(sql: str, schema) -> str:
    """`sql` with its NUMERIC result columns rendered as text by PostgreSQL itself.

    ADBC hands NUMERIC back as an `arrow.opaque` extension type over strings, which many
    readers (polars, for one) reject, and formats the values on its single reader thread:
    about a quarter of that thread's time for one such column in a dozen. PostgreSQL's own
    `numeric::text` is the same exact decimal text, a plain string column, and its cost
    lands on the database server. The query is wrapped as a subquery, which keeps its row
    order (a subquery with ORDER BY is sorted before the outer projection reads it).
    """
    names = list(schema.names)
    numeric = {f.name for f in schema if (f.metadata or {}).get(b"ADBC:postgresql:typname") == b"numeric"}
    if not numeric or len(set(names)) != len(names):
        return sql
    columns = ", ".join(f"{_quote(n)}::text AS {_quote(n)}" if n in numeric else _quote(n) for n in names)
    body = sql.strip().rstrip(";")
    return f"SELECT {columns} FROM (\n{body}\n) AS extracted"


@contextmanager
def postgres_batches(uri: str, sql: str) -> Iterator[tuple]:
    """(schema, batches) of `sql`: Arrow record batches from ADBC, read ahead on a thread."""
    import adbc_driver_postgresql.dbapi as pg_dbapi
    from adbc_driver_postgresql import StatementOptions

    with pg_dbapi.connect(uri) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(BATCH_SIZE_HINT_BYTES)})
        cur.execute(numeric_as_text(sql, cur.adbc_execute_schema(sql)))
        reader = cur.fetch_record_batch()
        yield reader.schema, _prefetch(reader)


def extract_postgres(
    s3, *, uri: str, sql: str, bucket: str, key_of: Callable[[int], str], rows_per_file: int = FILE_ROWS
) -> list[ExtractResult]:
    """Extract `sql` from PostgreSQL to Parquet objects `s3://bucket/<key_of(0, 1, ...)>`.

    Each object holds at most `rows_per_file` rows, in query order; an empty result is one
    empty object.
    """
    started = time.monotonic()
    with postgres_batches(uri, sql) as (schema, batches):
        results = _stream_files_to_s3(s3, bucket, key_of, schema, batches, started, rows_per_file)
    log.info(
        "extracted %d rows (%d bytes) into %d object(s) under s3://%s/%s in %.1fs",
        sum(r.rows for r in results),
        sum(r.bytes for r in results),
        len(results),
        bucket,
        key_of(0).rsplit("/", 1)[0],
        time.monotonic() - started,
    )
    return results


CSV_BLOCK_BYTES = 8 * 1024 * 1024  # the CSV reader's block: no field or row may be larger
_ARROW_TYPES = {"int64": "int64", "int32": "int32", "float64": "float64", "float32": "float32", "str": "string"}


class UnreadableFile(ValueError):
    """A landing file that cannot be read as CSV; the message says why, in the file's terms."""


def csv_column_types(types: dict[str, list[str]]) -> dict:
    """Arrow types for the CSV reader from a column contract (the first type declared for each)."""
    import pyarrow as pa

    wanted = {column: _ARROW_TYPES.get(declared[0]) for column, declared in types.items() if declared}
    return {column: pa.type_for_alias(name) for column, name in wanted.items() if name}


def _csv_reason(err: Exception, header: list[str], column_types: dict) -> str:
    """Arrow's CSV error with the column named and the declared type, where Arrow gives a number."""
    import re

    reason = str(err)
    found = re.search(r"In CSV column #(\d+)", reason)
    if found and int(found.group(1)) < len(header):
        column = header[int(found.group(1))]
        declared = f", declared {column_types[column]}" if column in column_types else ""
        reason = reason.replace(found.group(0), f"{found.group(0)} ('{column}'{declared})", 1)
    if "straddl" in reason:
        reason += f" (a field or row larger than the CSV reader's block of {CSV_BLOCK_BYTES} bytes)"
    return reason


def extract_csv_object(
    s3,
    *,
    src_path: str,
    src_uri: str,
    bucket: str,
    key: str,
    column_types: dict | None = None,
    header: list[str] | None = None,
) -> ExtractResult:
    """Convert one landing CSV file to a raw Parquet object, block by block.

    `src_path` is the local copy of the landing object `src_uri` (named in the log), written
    while its bytes were hashed, so the object is downloaded once. `column_types` (Arrow types
    by column, from the suite's contract) are applied by the reader, so a value that does not
    parse as its declared type stops the file with the column named. Anything Arrow cannot read
    raises UnreadableFile (nothing is written: the upload is aborted), so the caller
    quarantines this file alone.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    started = time.monotonic()
    column_types = column_types or {}
    try:
        reader = pacsv.open_csv(
            src_path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=column_types),
        )
        binary = [f.name for f in reader.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        if binary:
            raise UnreadableFile(f"column(s) {binary} hold bytes that are not UTF-8 text")
        result = _stream_to_s3(s3, bucket, key, reader.schema, iter(reader), started)
    except pa.ArrowInvalid as err:
        raise UnreadableFile(_csv_reason(err, header or [], column_types)) from err
    log.info("converted %s (%d rows) to s3://%s/%s", src_uri, result.rows, bucket, key)
    return result
