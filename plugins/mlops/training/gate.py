"""The approval gate: approve a candidate model, reject it, or leave it to a person.

A candidate is approved when its test metrics meet every configured threshold and, if a model
is in production, it beats that model on the primary metric; both were measured inside the
training job on the same test split. Otherwise it is rejected or left for manual approval, as
the model's `on_fail` says. The statuses are the SageMaker Model Registry's ModelApprovalStatus
values. Every check adds a reason, so the log and the report say why.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"


@dataclass(frozen=True)
class Decision:
    status: str
    reasons: tuple[str, ...]
    primary_metric: str
    candidate: float | None
    production: float | None

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "primary_metric": self.primary_metric,
            "candidate": self.candidate,
            "production": self.production,
        }


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def decide(candidate: dict, production: dict | None, config, production_error: str | None = None) -> Decision:
    """Judge `candidate` test metrics against `config` (a ModelConfig: thresholds, primary_metric,
    direction, on_fail) and the production model's metrics on the same split (None: no model in
    production yet, thresholds only)."""
    reasons, failed = [], False
    for t in config.thresholds:
        value = candidate.get(t.metric)
        if not _number(value):
            failed = True
            reasons.append(f"threshold {t}: the candidate has no {t.metric} value ({value!r})")
        elif t.holds(value):
            reasons.append(f"threshold {t}: met ({t.metric} = {value:.4g})")
        else:
            failed = True
            reasons.append(f"threshold {t}: not met ({t.metric} = {value:.4g})")

    metric, lower = config.primary_metric, config.direction == "min"
    ours, theirs = candidate.get(metric), (production or {}).get(metric)
    better = "lower" if lower else "higher"
    if production is None and production_error is None:
        reasons.append("no model in production: judged on the thresholds only")
    elif not (_number(ours) and _number(theirs)):
        failed = True
        why = f": {production_error}" if production_error else ""
        reasons.append(f"cannot compare {metric} with production (candidate {ours!r}, production {theirs!r}){why}")
    elif (ours < theirs) if lower else (ours > theirs):
        reasons.append(f"{metric} {ours:.4g} beats production {theirs:.4g} ({better} is better)")
    else:
        failed = True
        reasons.append(f"{metric} {ours:.4g} does not beat production {theirs:.4g} ({better} is better)")

    status = APPROVED if not failed else REJECTED if config.on_fail == "reject" else PENDING
    decision = Decision(
        status, tuple(reasons), metric, ours if _number(ours) else None, theirs if _number(theirs) else None
    )
    log.info("model %s: %s\n  - %s", getattr(config, "name", "?"), status, "\n  - ".join(reasons))
    return decision


def decide_report(report: dict, config) -> Decision:
    """`decide` on an evaluation report written by the training entry point (evaluation.json)."""
    production = report.get("production")
    error = production.get("error") if production else None
    return decide(
        report["candidate"]["metrics"],
        None if production is None else production.get("metrics") or {},
        config,
        production_error=error,
    )


def with_decision(report: dict, decision: Decision) -> dict:
    """The report with the decision and its reasons, to be stored next to the model."""
    return {**report, "decision": decision.to_dict()}
