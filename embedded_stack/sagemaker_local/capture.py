"""Data capture in SageMaker's format, written off the request path.

The runtime hands each sampled exchange to `submit` (a queue put, no encoding); a background thread
turns them into JSON Lines records and writes one object per endpoint, variant and hour every
`interval` seconds, at `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`.
Each record:

    {"captureData": {"endpointInput":  {"observedContentType", "mode": "INPUT",  "data", "encoding"},
                     "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data", "encoding"}},
     "eventMetadata": {"eventId", "inferenceId" (when the caller sent one), "inferenceTime"},
     "eventVersion": "0"}

`encoding` is CSV or JSON (and `data` the text) when the content type is one of the config's
CaptureContentTypeHeader CsvContentTypes / JsonContentTypes, else BASE64 (the documented default).
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from embedded_stack.sagemaker_local.runner import split_s3

log = logging.getLogger(__name__)


def capture_modes(config: dict) -> set[str]:
    modes = {o["CaptureMode"] for o in config.get("CaptureOptions", [])}
    if "InputAndOutput" in modes:
        modes |= {"Input", "Output"}
    return modes


def _encode(data: bytes, content_type: str, header: dict) -> tuple[str, str]:
    base = (content_type or "").split(";")[0].strip().lower()
    for encoding, member in (("CSV", "CsvContentTypes"), ("JSON", "JsonContentTypes")):
        if base in {t.lower() for t in header.get(member, [])}:
            try:
                return data.decode("utf-8"), encoding
            except UnicodeDecodeError:
                break
    return base64.b64encode(data).decode("ascii"), "BASE64"


def record(config: dict, exchange: tuple) -> dict:
    """One JSONL record from (time, inference id, request body, its type, response body, its type)."""
    when, inference_id, body, content_type, out, out_type = exchange
    header, modes = config.get("CaptureContentTypeHeader") or {}, capture_modes(config)
    data = {}
    if "Input" in modes:
        text, encoding = _encode(body, content_type, header)
        data["endpointInput"] = {
            "observedContentType": content_type,
            "mode": "INPUT",
            "data": text,
            "encoding": encoding,
        }
    if "Output" in modes:
        text, encoding = _encode(out, out_type, header)
        data["endpointOutput"] = {"observedContentType": out_type, "mode": "OUTPUT", "data": text, "encoding": encoding}
    meta = {"eventId": str(uuid.uuid4())}
    if inference_id:
        meta["inferenceId"] = inference_id
    meta["inferenceTime"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"captureData": data, "eventMetadata": meta, "eventVersion": "0"}


def should_capture(config: dict | None, rng: random.Random) -> bool:
    if not config or not config.get("EnableCapture", True):
        return False
    return rng.random() * 100 < config.get("InitialSamplingPercentage", 0)


class CaptureWriter:
    """The background writer; `flush()` writes everything submitted so far before it returns."""

    def __init__(self, s3_for_region, interval: float = 2.0):
        self.s3_for_region, self.interval = s3_for_region, interval
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def submit(self, region: str, endpoint: str, variant: str, config: dict, exchange: tuple) -> None:
        self._queue.put((region, endpoint, variant, config, exchange))

    def flush(self, timeout: float = 30) -> None:
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        batch: dict[tuple, list] = defaultdict(list)
        next_write = time.monotonic() + self.interval
        while True:
            try:
                item = self._queue.get(timeout=max(next_write - time.monotonic(), 0.01))
            except queue.Empty:
                item = "tick"
            if isinstance(item, tuple):
                region, endpoint, variant, config, exchange = item
                hour = datetime.fromtimestamp(exchange[0], UTC).strftime("%Y/%m/%d/%H")
                batch[(region, config["DestinationS3Uri"].rstrip("/"), endpoint, variant, hour)].append(
                    (config, exchange)
                )
                continue
            if item == "tick" or item is None or isinstance(item, threading.Event):
                if batch:
                    self._write(batch)
                    batch = defaultdict(list)
                next_write = time.monotonic() + self.interval
            if isinstance(item, threading.Event):
                item.set()
            if item is None:
                return

    def _write(self, batch: dict[tuple, list]) -> None:
        for (region, destination, endpoint, variant, hour), items in batch.items():
            first = datetime.fromtimestamp(items[0][1][0], UTC)
            bucket, prefix = split_s3(destination)
            name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            key = "/".join(p for p in (prefix, endpoint, variant, hour, name) if p)
            body = "".join(json.dumps(record(c, e), separators=(",", ":")) + "\n" for c, e in items)
            try:
                self.s3_for_region(region).put_object(Bucket=bucket, Key=key, Body=body.encode())
            except Exception as err:  # capture must never take the endpoint down
                log.warning(
                    "data capture for %s/%s: %d records not written to s3://%s/%s: %s",
                    endpoint,
                    variant,
                    len(items),
                    bucket,
                    key,
                    err,
                )
