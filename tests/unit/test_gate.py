"""The approval gate: thresholds, the comparison with production, on_fail, reasons."""

import logging

import pytest
import yaml

from mlops.training.config import MODELS_DIR, load_model, parse_model
from mlops.training.gate import APPROVED, PENDING, REJECTED, decide, decide_report, with_decision

DIABETES = load_model(MODELS_DIR / "diabetes_progression.yaml")  # rmse (min), r2 >= 0.3, rmse <= 70, manual
DIGITS = load_model(MODELS_DIR / "digits_classifier.yaml")  # f1_macro (max), accuracy >= 0.9, reject
GOOD = {"mse": 3025.0, "rmse": 55.0, "mae": 44.0, "r2": 0.48}


def _with(cfg, **evaluation):
    doc = yaml.safe_load(cfg.path.read_text())
    doc["evaluation"].update(evaluation)
    return parse_model(doc)


def test_first_model_is_judged_on_thresholds_only(caplog):
    with caplog.at_level(logging.INFO, logger="mlops.training.gate"):
        decision = decide(GOOD, None, DIABETES)
    assert decision.status == APPROVED and decision.approved
    assert decision.reasons == (
        "threshold r2 >= 0.3: met (r2 = 0.48)",
        "threshold rmse <= 70: met (rmse = 55)",
        "no model in production: judged on the thresholds only",
    )
    assert "diabetes_progression: Approved" in caplog.text and "rmse <= 70: met" in caplog.text


def test_better_than_production_is_approved():
    decision = decide(GOOD, {**GOOD, "rmse": 57.5}, DIABETES)
    assert decision.status == APPROVED
    assert decision.reasons[-1] == "rmse 55 beats production 57.5 (lower is better)"
    assert (decision.candidate, decision.production) == (55.0, 57.5)


@pytest.mark.parametrize("production_rmse", [55.0, 54.0])  # a tie is not better
def test_not_better_than_production_fails_per_on_fail(production_rmse):
    production = {**GOOD, "rmse": production_rmse}
    manual = decide(GOOD, production, DIABETES)
    assert manual.status == PENDING
    assert manual.reasons[-1] == f"rmse 55 does not beat production {production_rmse:g} (lower is better)"
    assert decide(GOOD, production, _with(DIABETES, on_fail="reject")).status == REJECTED


def test_threshold_failure_fails_even_when_better_than_production():
    weak = {**GOOD, "r2": 0.25, "rmse": 72.0}
    decision = decide(weak, {**GOOD, "rmse": 80.0}, DIABETES)
    assert decision.status == PENDING
    assert "threshold r2 >= 0.3: not met (r2 = 0.25)" in decision.reasons
    assert "threshold rmse <= 70: not met (rmse = 72)" in decision.reasons
    assert "rmse 72 beats production 80 (lower is better)" in decision.reasons


def test_classification_higher_is_better_and_missing_metrics():
    candidate = {"accuracy": 0.96, "f1_macro": 0.95, "top3_accuracy": 0.99}
    assert decide(candidate, {**candidate, "f1_macro": 0.94}, DIGITS).status == APPROVED
    lost = decide(candidate, {**candidate, "f1_macro": 0.97}, DIGITS)
    assert (
        lost.status == REJECTED and lost.reasons[-1] == "f1_macro 0.95 does not beat production 0.97 (higher is better)"
    )
    no_accuracy = decide({"f1_macro": 0.95, "top3_accuracy": 0.99, "accuracy": float("nan")}, None, DIGITS)
    assert no_accuracy.status == REJECTED and "the candidate has no accuracy value (nan)" in no_accuracy.reasons[0]


def test_decide_on_a_report_and_record_the_decision():
    report = {"candidate": {"metrics": GOOD}, "production": {"metrics": {**GOOD, "rmse": 60.0}}}
    decision = decide_report(report, DIABETES)
    assert decision.status == APPROVED
    stored = with_decision(report, decision)
    assert stored["decision"]["status"] == APPROVED and stored["decision"]["reasons"] == list(decision.reasons)
    assert stored["candidate"] == report["candidate"] and "decision" not in report

    assert decide_report({"candidate": {"metrics": GOOD}, "production": None}, DIABETES).status == APPROVED
    broken = {"candidate": {"metrics": GOOD}, "production": {"error": "ValueError: missing feature(s) ['bmi']"}}
    decision = decide_report(broken, DIABETES)
    assert decision.status == PENDING
    assert decision.reasons[-1] == (
        "cannot compare rmse with production (candidate 55.0, production None): ValueError: missing feature(s) ['bmi']"
    )
