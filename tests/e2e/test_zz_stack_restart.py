"""`make down` then `make up` keeps all the stack's state: after a restart the reader, the registry,
the tables and a rerun see exactly what was there before. Runs last (file name): it restarts the
session stack every other e2e test shares."""

from __future__ import annotations

from datetime import date

from embedded_stack import stack as st
from mlops.lake.reader import CuratedReader

DAG = "ingest_clinic"


def _registry(cfg) -> dict[str, list[tuple]]:
    sm = st.aws_client(cfg, "sagemaker")
    out = {}
    for group in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]:
        name = group["ModelPackageGroupName"]
        packages = sm.list_model_packages(ModelPackageGroupName=name)["ModelPackageSummaryList"]
        out[name] = sorted((p["ModelPackageArn"], p["ModelApprovalStatus"]) for p in packages)
    return out


def _tables(cfg, env) -> dict[str, list]:
    ddb = st.aws_client(cfg, "dynamodb")
    tables = (env["MLOPS_VERSIONS_TABLE"], env["MLOPS_METRICS_TABLE"])
    return {t: sorted(map(repr, ddb.scan(TableName=t, ConsistentRead=True)["Items"])) for t in tables}


def _state(stack) -> dict:
    reader = CuratedReader(bucket=stack.env["MLOPS_CURATED_BUCKET"], s3=stack.s3)
    return {
        "curated": stack.curated(),
        "raw": stack.raw(),
        "partitions": {d: reader.partitions(d) for d in reader.datasets()},
        "registry": _registry(stack.cfg),
        "tables": _tables(stack.cfg, stack.env),
    }


def test_down_and_up_keep_every_object_package_and_row(stack):
    before = _state(stack)
    assert before["curated"] and before["partitions"], "the earlier e2e tests left curated data to keep"
    frame = CuratedReader(bucket=stack.env["MLOPS_CURATED_BUCKET"], s3=stack.s3).load("diabetes_patients")

    st.down(stack.cfg)
    st.up(stack.cfg, quiet=True)
    stack.api.wait_for_dag(DAG, timeout=180)

    after = _state(stack)
    for part in before:
        assert after[part] == before[part], f"{part} changed across the restart"
    again = CuratedReader(bucket=stack.env["MLOPS_CURATED_BUCKET"], s3=stack.s3).load("diabetes_patients")
    assert again.equals(frame)

    # a rerun after the restart rewrites the same bytes over the restored objects
    day = date(2026, 10, 2)
    partition = f"diabetes_patients/ds={day}/"
    assert stack.api.rerun(DAG, day)["state"] == "success"
    assert stack.curated(partition) == {k: v for k, v in before["curated"].items() if k.startswith(partition)}
