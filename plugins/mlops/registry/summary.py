"""The readable summary of a registered candidate (SNS subject and message)."""

from __future__ import annotations

from mlops.registry.packages import Candidate, ModelPackage
from mlops.registry.versions import Version


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def candidate_summary(
    candidate: Candidate,
    version: Version,
    production: ModelPackage | None,
    package_arn: str | None = None,
    unlabelled_rows: int = 0,
) -> tuple[str, str]:
    """SNS subject and message for a registered candidate: its metrics beside production's, the decision,
    the data it was trained on (and how many rows were left out for having no label)."""
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
