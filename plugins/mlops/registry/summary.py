"""The readable summary of a registered candidate (SNS subject and message)."""

from __future__ import annotations

from datetime import date, timedelta

from mlops.registry.packages import Candidate, ModelPackage
from mlops.registry.versions import Version


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def interval_coverage(inventory: list[dict]) -> dict[str, dict]:
    """Per dataset of a training inventory: the intervals present and those missing between the
    first and the last one.

    Intervals are days (every source is @daily today; a source on another schedule would see
    the days its schedule skips listed as missing).
    """
    days: dict[str, set[str]] = {}
    for p in inventory:
        days.setdefault(p["dataset"], set()).add(p["ds"])
    out = {}
    for dataset, present in sorted(days.items()):
        first, last = date.fromisoformat(min(present)), date.fromisoformat(max(present))
        span = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        out[dataset] = {
            "first": first.isoformat(),
            "last": last.isoformat(),
            "present": sorted(present),
            "missing": [d for d in span if d not in present],
        }
    return out


def day_ranges(days: list[str]) -> str:
    """`2026-10-01..2026-10-03, 2026-10-05` for consecutive runs of days."""
    runs: list[list[date]] = []
    for day in sorted(date.fromisoformat(d) for d in days):
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs) or "none"


def coverage_lines(coverage: dict[str, dict]) -> list[str]:
    lines = []
    for dataset, c in coverage.items():
        total = len(c["present"]) + len(c["missing"])
        lines.append(
            f"Intervals of {dataset}: {len(c['present'])} of {total} daily intervals {c['first']}..{c['last']}; "
            f"present: {day_ranges(c['present'])}; missing: {day_ranges(c['missing'])}"
        )
    return lines


def candidate_summary(
    candidate: Candidate,
    *,
    version: Version,
    production: ModelPackage | None,
    package_arn: str | None = None,
    coverage: dict[str, dict] | None = None,
    unlabelled_rows: int = 0,
) -> tuple[str, str]:
    """SNS subject and message for a registered candidate: its metrics beside production's, the
    decision, which intervals of its datasets it was trained on and which were missing, and how many
    rows were left out for having no label."""
    subject = f"{candidate.model} {version}: {candidate.approval}"
    subject = subject.encode("ascii", "replace").decode()[:100]  # SNS: ASCII, one line, 100 characters
    prod_label = f"production {production.version}" if production else "production"
    prod_metrics = production.metrics if production else {}
    names = sorted(set(candidate.metrics) | set(prod_metrics))
    width = max([len("metric"), *(len(n) for n in names)])
    lines = [
        f"Model {candidate.model}: candidate {version} is {candidate.approval}.",
        "",
        f"{'metric':<{width}}  {'candidate ' + str(version):>18}  {prod_label:>20}  {'change':>10}",
    ]
    for name in names:
        new, old = candidate.metrics.get(name), prod_metrics.get(name)
        change = "-" if new is None or old is None else f"{new - old:+.4g}"
        lines.append(f"{name:<{width}}  {_fmt(new):>18}  {_fmt(old):>20}  {change:>10}")
    if production is None:
        lines.append("(no model in production yet)")
    lines += ["", f"Gate decision: {candidate.approval}"]
    lines += [f"  - {reason}" for reason in candidate.gate_reasons]
    lines.append("")
    lines += [f"Trained on: {cursor}" for cursor in candidate.training_data]
    lines += coverage_lines(coverage or {})
    if unlabelled_rows:
        lines.append(f"Rows without a label, not trained on: {unlabelled_rows}")
    details = {
        "Code revision": candidate.code_revision,
        "Training job": candidate.training_job,
        "Image": candidate.image,
        "Artifact": candidate.model_data_url,
        "Model package": package_arn,
        "Production package": production.arn if production else None,
    }
    lines += [f"{k}: {v}" for k, v in details.items() if v]
    return subject, "\n".join(lines) + "\n"
