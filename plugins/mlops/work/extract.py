"""Extract one data interval from a source into a Parquet object in S3, in bounded memory.

PostgreSQL sources are read with the ADBC PostgreSQL driver, which runs `COPY ... TO STDOUT
(FORMAT binary)` and hands back Arrow record batches: rows never become Python objects. A
reader thread keeps a few batches ahead while the main thread encodes Parquet row groups,
and the Parquet bytes stream straight into an S3 multipart upload whose parts are sent in the
background. Memory depends on the batch and part sizes, never on the table size, and the
object appears only when the upload completes: a killed run leaves the previous object (or
none), never a partial one. Landing CSV files go the same way through Arrow's streaming CSV
reader.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

BATCH_SIZE_HINT_BYTES = 8 * 1024 * 1024  # Arrow batches of about 8 MiB from the driver
ROW_GROUP_ROWS = 128 * 1024  # Parquet row groups of at most this many rows
PART_BYTES = 16 * 1024 * 1024  # S3 multipart part size
PREFETCH_BATCHES = 4
UPLOADS_IN_FLIGHT = 2


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


class S3StreamWriter:
    """A write-only file object that streams into one S3 multipart upload.

    Parts are uploaded by a small thread pool while the caller keeps writing; at most
    `UPLOADS_IN_FLIGHT` parts wait in memory. `close()` completes the upload; `abort()`
    (or an exception inside a `with` block) discards it.
    """

    def __init__(self, s3, bucket: str, key: str, part_bytes: int = PART_BYTES):
        self.s3, self.bucket, self.key, self.part_bytes = s3, bucket, key, part_bytes
        self.upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        self.buffer = bytearray()
        self.parts: list = []
        self.pool = ThreadPoolExecutor(max_workers=UPLOADS_IN_FLIGHT, thread_name_prefix="s3-part")
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def write(self, data) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.buffer += view
        self.size += len(view)
        while len(self.buffer) >= self.part_bytes:
            self._send(bytes(self.buffer[: self.part_bytes]))
            del self.buffer[: self.part_bytes]
        return len(view)

    def _send(self, body: bytes) -> None:
        number = len(self.parts) + 1
        pending = [f for f in self.parts if not f.done()]
        if len(pending) >= UPLOADS_IN_FLIGHT:
            pending[0].result()
        self.parts.append(
            self.pool.submit(
                self.s3.upload_part,
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
            )
        )

    def close(self) -> None:
        if self.closed:
            return
        if self.buffer or not self.parts:
            self._send(bytes(self.buffer))
            self.buffer.clear()
        etags = [f.result()["ETag"] for f in self.parts]
        self.pool.shutdown()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]},
        )
        self.closed = True

    def abort(self) -> None:
        if self.closed:
            return
        self.pool.shutdown(cancel_futures=True)
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        self.closed = True


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


def write_parquet(batches: Iterator, schema, sink, progress_every: int = 250_000) -> int:
    """Write Arrow batches into `sink` as Parquet, coalescing them into row groups; returns rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, pending, pending_rows, next_report = 0, [], 0, progress_every
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
            if rows >= next_report:
                log.info("extracted %d rows so far", rows)
                next_report += progress_every
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
    return rows


def _stream_to_s3(s3, bucket: str, key: str, schema, batches: Iterator, started: float) -> ExtractResult:
    sink = S3StreamWriter(s3, bucket, key)
    try:
        rows = write_parquet(batches, schema, sink)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return ExtractResult(
        bucket, key, rows, sink.size, sink.digest.hexdigest(), round(time.monotonic() - started, 3), list(schema.names)
    )


def extract_postgres(s3, uri: str, sql: str, bucket: str, key: str) -> ExtractResult:
    """Extract `sql` from PostgreSQL to `s3://bucket/key` as one Parquet object."""
    import adbc_driver_postgresql.dbapi as pg_dbapi
    from adbc_driver_postgresql import StatementOptions

    started = time.monotonic()
    with pg_dbapi.connect(uri) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(BATCH_SIZE_HINT_BYTES)})
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        result = _stream_to_s3(s3, bucket, key, reader.schema, _prefetch(reader), started)
    log.info(
        "extracted %d rows (%d bytes) to s3://%s/%s in %.1fs", result.rows, result.bytes, bucket, key, result.seconds
    )
    return result


def extract_csv_object(s3, src_bucket: str, src_key: str, bucket: str, key: str) -> ExtractResult:
    """Convert one landing CSV object to a raw Parquet object, block by block."""
    import pyarrow.csv as pacsv

    started = time.monotonic()
    body = s3.get_object(Bucket=src_bucket, Key=src_key)["Body"]
    reader = pacsv.open_csv(body, read_options=pacsv.ReadOptions(block_size=8 * 1024 * 1024))
    result = _stream_to_s3(s3, bucket, key, reader.schema, iter(reader), started)
    log.info("converted s3://%s/%s (%d rows) to s3://%s/%s", src_bucket, src_key, result.rows, bucket, key)
    return result
