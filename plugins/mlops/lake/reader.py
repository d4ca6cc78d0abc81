"""Read curated datasets: the data scientists' entry point.

It needs read access to the curated bucket and nothing else (no raw bucket, no source
database), and it reads only what a partition's manifest lists, so it never sees a half
published partition.

Python:
    from mlops.lake.reader import CuratedReader
    reader = CuratedReader()                       # bucket from MLOPS_CURATED_BUCKET
    reader.datasets()                              # ['diabetes_patients', 'digits_images']
    reader.partitions("diabetes_patients")         # [Partition(ds='2026-10-01', rows=16), ...]
    df = reader.load("diabetes_patients", "2026-10-01", "2026-10-28")

Command line (`pip install <this repository>` installs the reader alone, with the `mlops-reader`
command; `python -m mlops.lake.reader` is the same):
    mlops-reader datasets
    mlops-reader partitions diabetes_patients
    mlops-reader load diabetes_patients --start 2026-10-01 --end 2026-10-28 [--out f.parquet]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass

from mlops.lake import layout
from mlops.settings import Settings


@dataclass(frozen=True)
class Partition:
    dataset: str
    ds: str
    rows: int
    files: int


class CuratedReader:
    def __init__(self, bucket: str | None = None, s3=None, endpoint_url: str | None = None):
        """`bucket` defaults to the settings' curated bucket; without `s3`, a boto3 client with the usual
        AWS configuration (botocore itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3)."""
        import boto3

        self.bucket = bucket or Settings.from_env().curated_bucket
        self.s3 = s3 or boto3.client("s3", endpoint_url=endpoint_url)

    def datasets(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Delimiter="/")
        return sorted(p["Prefix"].rstrip("/") for page in pages for p in page.get("CommonPrefixes", []))

    def _manifest_keys(self, dataset: str) -> list[str]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=layout.dataset_prefix(dataset)
        ):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(layout.MANIFEST_NAME)]
        return sorted(keys)

    def manifest(self, dataset: str, ds: str) -> dict:
        body = self.s3.get_object(Bucket=self.bucket, Key=layout.manifest_key(dataset, ds))["Body"].read()
        return json.loads(body)

    def _days(self, dataset: str, start: str | None, end: str | None) -> list[str]:
        """Published partition days of `dataset` in start..end, from the manifest keys alone."""
        days = [layout.partition_of(k) for k in self._manifest_keys(dataset)]
        days = [d for d in days if d and not (start and d < start) and not (end and d > end)]
        if not days and dataset not in self.datasets():
            raise KeyError(f"no curated dataset named {dataset!r} in s3://{self.bucket}; have {self.datasets()}")
        return days

    def partitions(self, dataset: str, start: str | None = None, end: str | None = None) -> list[Partition]:
        """Published partitions of `dataset` with start <= ds <= end (inclusive, YYYY-MM-DD)."""
        out = []
        for ds in self._days(dataset, start, end):
            m = self.manifest(dataset, ds)
            out.append(Partition(dataset, ds, m["rows"], len(m["files"])))
        return out

    def _read_partition(self, dataset: str, ds: str, attempts: int = 3):
        """The manifest and its files' tables. A republish deletes the files the new manifest
        no longer lists, so a file vanishing under us means: read the new manifest again."""
        import pyarrow.parquet as pq

        for attempt in range(attempts):
            manifest = self.manifest(dataset, ds)
            try:
                tables = [
                    pq.read_table(io.BytesIO(self.s3.get_object(Bucket=self.bucket, Key=f["key"])["Body"].read()))
                    for f in manifest["files"]
                ]
                return manifest, tables
            except self.s3.exceptions.NoSuchKey:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def load(self, dataset: str, start: str | None = None, end: str | None = None, latest: bool = False):
        """Load partitions start..end (inclusive) into one pandas DataFrame with a `ds` column.

        With `latest=True`, keep only the newest version of each key (by the dataset's
        change-timestamp column), which turns a change log into current state.
        """
        import pandas as pd

        frames = []
        manifest = None
        for ds in self._days(dataset, start, end):  # each manifest read once, with its files
            manifest, tables = self._read_partition(dataset, ds)
            for table in tables:
                frame = table.to_pandas()
                frame["ds"] = ds
                frames.append(frame)
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        if latest and manifest and manifest.get("key"):
            order = [manifest["changed_at"]] if manifest.get("changed_at") else ["ds"]
            df = df.sort_values(order).drop_duplicates(manifest["key"], keep="last").reset_index(drop=True)
        return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-reader", description="Read curated datasets.")
    parser.add_argument("--bucket", help="curated bucket (default: $MLOPS_CURATED_BUCKET)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("datasets", help="list curated datasets")
    p = sub.add_parser("partitions", help="list a dataset's published partitions")
    p.add_argument("dataset")
    p.add_argument("--start")
    p.add_argument("--end")
    ld = sub.add_parser("load", help="load a date range (prints a preview, or writes --out)")
    ld.add_argument("dataset")
    ld.add_argument("--start")
    ld.add_argument("--end")
    ld.add_argument("--latest", action="store_true", help="keep only the newest row per key")
    ld.add_argument("--out", help="write to this .parquet or .csv file")
    args = parser.parse_args(argv)
    reader = CuratedReader(bucket=args.bucket)
    try:
        if args.command == "datasets":
            print("\n".join(reader.datasets()))
        elif args.command == "partitions":
            for part in reader.partitions(args.dataset, args.start, args.end):
                print(f"{part.ds}  rows={part.rows}  files={part.files}")
        else:
            df = reader.load(args.dataset, args.start, args.end, latest=args.latest)
            if args.out:
                df.to_parquet(args.out, index=False) if args.out.endswith(".parquet") else df.to_csv(
                    args.out, index=False
                )
                print(f"wrote {len(df)} rows to {args.out}")
            else:
                print(df.head(20).to_string())
                print(f"... {len(df)} rows, {len(df.columns)} columns")
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
