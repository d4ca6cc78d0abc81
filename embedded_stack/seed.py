"""Demo data from real datasets shipped with scikit-learn.

- clinic.patients: the diabetes study (442 patients, Efron et al. 2004) in its original
  units, with the disease progression one year after baseline, as an operational table
  whose rows changed over several weeks (`updated_at`).
- digits CSV drop: the UCI handwritten digits (1,797 8x8 images with labels), delivered as
  several CSV files into the landing bucket.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

PATIENT_COLUMNS = [
    "age",
    "sex",
    "bmi",
    "blood_pressure",
    "s1_total_cholesterol",
    "s2_ldl",
    "s3_hdl",
    "s4_tch_hdl_ratio",
    "s5_log_triglycerides",
    "s6_glucose",
]

DDL = """
CREATE SCHEMA IF NOT EXISTS clinic;
CREATE TABLE IF NOT EXISTS clinic.patients (
    patient_id integer PRIMARY KEY,
    age integer NOT NULL,
    sex integer NOT NULL,
    bmi double precision,
    blood_pressure double precision,
    s1_total_cholesterol double precision,
    s2_ldl double precision,
    s3_hdl double precision,
    s4_tch_hdl_ratio double precision,
    s5_log_triglycerides double precision,
    s6_glucose double precision,
    progression double precision,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS patients_updated_at ON clinic.patients (updated_at);
"""


def diabetes_frame(start: date, days: int):
    """The diabetes study with change timestamps spread evenly over `days` days from `start`."""
    import pandas as pd
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    df = pd.DataFrame(data.data, columns=PATIENT_COLUMNS)
    df["age"] = df["age"].astype(int)
    df["sex"] = df["sex"].astype(int)
    df["progression"] = data.target
    df.insert(0, "patient_id", range(1, len(df) + 1))
    t0 = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    span = timedelta(days=days).total_seconds()
    df["updated_at"] = [t0 + timedelta(seconds=int(span * (i + 0.5) / len(df))) for i in range(len(df))]
    return df


def seed_clinic(conn_kwargs: dict, start: date, days: int) -> int:
    """(Re)create clinic.patients with the diabetes study; returns the row count."""
    import psycopg2

    df = diabetes_frame(start, days)
    conn = psycopg2.connect(**conn_kwargs)
    with conn, conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("TRUNCATE clinic.patients")
        buf = io.StringIO()
        df.to_csv(buf, index=False, header=False)
        buf.seek(0)
        cur.copy_expert(f"COPY clinic.patients ({', '.join(df.columns)}) FROM STDIN WITH (FORMAT csv)", buf)
    conn.close()
    return len(df)


def digits_frame():
    import pandas as pd
    from sklearn.datasets import load_digits

    data = load_digits()
    df = pd.DataFrame(data.data.astype(int), columns=[f"pixel_{i}" for i in range(64)])
    df.insert(0, "label", data.target.astype(int))
    df.insert(0, "image_id", [f"img-{i:05d}" for i in range(len(df))])
    return df


def digits_files(n_files: int = 4) -> list[tuple[str, bytes]]:
    """The digits split into `n_files` CSV deliveries."""
    df = digits_frame()
    size = -(-len(df) // n_files)
    return [
        (f"digits-batch-{i + 1:02d}.csv", df.iloc[i * size : (i + 1) * size].to_csv(index=False).encode())
        for i in range(n_files)
    ]


def corrupt_digits_file(bad_rows: int = 3) -> tuple[str, bytes]:
    """A delivery in which a scanner fault wrote out-of-range grey levels and bad labels."""
    df = digits_frame().iloc[:50].copy()
    df["image_id"] = [f"img-bad-{i:03d}" for i in range(len(df))]
    df.loc[df.index[:bad_rows], "pixel_10"] = 255
    df.loc[df.index[:1], "label"] = 12
    return "digits-batch-scanner-fault.csv", df.to_csv(index=False).encode()


def drop_files(s3, bucket: str, prefix: str, files: list[tuple[str, bytes]]) -> list[str]:
    keys = []
    for name, body in files:
        key = f"{prefix}{name}"
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
        keys.append(key)
    return keys
