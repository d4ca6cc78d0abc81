"""A write-only file object that streams into one S3 multipart upload, in bounded memory."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

PART_BYTES = 16 * 1024 * 1024  # S3 multipart part size
UPLOADS_IN_FLIGHT = 2


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
        if len(self.buffer) >= self.part_bytes:  # parts need not be equal, only >= 5 MiB
            self._send(bytes(self.buffer))
            self.buffer.clear()
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
        try:
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
        except BaseException:
            self.abort()
            raise
        self.closed = True

    def abort(self) -> None:
        if self.closed:
            return
        self.pool.shutdown(cancel_futures=True)
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        self.closed = True
