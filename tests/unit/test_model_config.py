"""Model files: the bundled examples load, wrong fields are named, the entry point contract holds."""

import json
import textwrap

import pytest
import yaml

from mlops.ingestion.config import ConfigError
from mlops.training.config import MODELS_DIR, TRAINING_DIR, load_model, load_models, parse_model


def test_bundled_models_load():
    models = {m.name: m for m in load_models()}
    assert {"diabetes_progression", "digits_classifier"} <= set(models)
    diabetes = models["diabetes_progression"]
    assert diabetes.dag_id == "train_diabetes_progression"
    assert diabetes.datasets == ("diabetes_patients",) and diabetes.key == "patient_id"
    assert diabetes.label == "progression" and len(diabetes.features) == 10 and "updated_at" not in diabetes.features
    assert (diabetes.problem_type, diabetes.primary_metric, diabetes.direction) == ("regression", "rmse", "min")
    assert [str(t) for t in diabetes.thresholds] == ["r2 >= 0.3", "rmse <= 70"]
    assert diabetes.retrain_min_new_rows == 100 and diabetes.schedule == ("diabetes_patients",)
    assert diabetes.training.entry_point_path == TRAINING_DIR / "train.py"
    digits = models["digits_classifier"]
    assert digits.features == tuple(f"pixel_{i}" for i in range(64))
    assert (digits.problem_type, digits.direction, digits.on_fail) == ("classification", "max", "reject")
    assert digits.train_args()["top-k"] == "3"


def _doc(**overrides):
    doc = yaml.safe_load(
        textwrap.dedent(
            """
            model: m
            description: test
            problem_type: regression
            data: {datasets: [diabetes_patients], key: patient_id, features: [age, bmi], label: progression}
            estimator: {class: sklearn.linear_model.Ridge, hyperparameters: {alpha: 1.0}}
            evaluation: {primary_metric: rmse, thresholds: {r2: ">= 0.3"}}
            """
        )
    )
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        target = doc
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = value
    return doc


def test_defaults():
    cfg = parse_model(_doc())
    assert (cfg.split.validation, cfg.split.test, cfg.split.seed) == (0.15, 0.2, 0)
    assert cfg.on_fail == "manual" and cfg.retrain_min_new_rows == 100 and cfg.schedule == cfg.datasets
    assert (cfg.version, cfg.manual_revision) == ("1.0", 0)
    assert (cfg.training.framework, cfg.training.framework_version, cfg.training.instance_count) == (
        "sklearn",
        "1.4-2",
        1,
    )
    xgb = parse_model(_doc(estimator__class="xgboost.XGBRegressor"))
    assert (xgb.training.framework, xgb.training.framework_version) == ("xgboost", "1.7-1")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"problem_type": "ranking"}, "problem_type must be one of"),
        ({"model": "My-Model"}, "must be lower_snake_case"),
        ({"description": None}, "missing required field 'description'"),
        ({"estimatr": {}}, "unknown field 'estimatr'"),
        ({"data__featurs": ["x"]}, "data: unknown field 'featurs'"),
        ({"data__features": []}, "data: features must be a non-empty list"),
        ({"data__features": ["age", "progression"]}, "label column 'progression' must not be among the features"),
        ({"data__features": ["age", "age"]}, "features lists a name twice"),
        ({"data__split": {"test": 1.5}}, "data: split: field 'test' must be float in [0.01, 0.9]"),
        ({"data__split": {"test": 0.5, "validation": 0.45}}, "keep at least 10%"),
        ({"estimator__class": "os.system"}, "estimator: class 'os.system' must be a dotted class path from sklearn.*"),
        ({"estimator__hyperparameters": [1]}, "hyperparameters must be a mapping"),
        ({"evaluation__primary_metric": "accuracy"}, "primary_metric 'accuracy' is not a regression metric"),
        ({"evaluation__direction": "up"}, "direction must be 'min'"),
        ({"evaluation__thresholds": {"r2": "at least 0.3"}}, "thresholds.r2: expected a comparison like '>= 0.3'"),
        ({"evaluation__thresholds": {"auc": ">= 0.3"}}, "thresholds.auc: unknown metric"),
        ({"evaluation__on_fail": "ignore"}, "on_fail must be one of"),
        ({"retrain__min_new_rows": -1}, "retrain: field 'min_new_rows' must be int"),
        ({"version__manual_revision": "two"}, "version: field 'manual_revision' must be int"),
        ({"training__framework": "pytorch"}, "framework must be one of"),
        ({"estimator__class": "xgboost.XGBRegressor", "training__framework": "sklearn"}, "needs framework 'xgboost'"),
        ({"training__instance_type": "m5.large"}, "is not a SageMaker type"),
        ({"training__entry_point": "missing.py"}, "entry_point 'missing.py' is not a file in"),
        ({"data__features": [f"feature_number_{i}" for i in range(200)]}, "data.features is too long"),
    ],
)
def test_errors_name_the_field(overrides, message, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_doc(**overrides)))
    with pytest.raises(ConfigError) as err:
        load_model(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_thresholds_hold():
    cfg = parse_model(_doc(evaluation__thresholds={"r2": ">= 0.3", "rmse": "< 70", "mae": "<=1e2"}))
    r2, rmse, mae = cfg.thresholds
    assert r2.holds(0.3) and not r2.holds(0.29) and not r2.holds(float("nan")) and not r2.holds(None)
    assert rmse.holds(69.9) and not rmse.holds(70)
    assert mae.holds(100.0) and str(mae) == "mae <= 100"


def _toolkit_argv(hyperparameters: dict, per_value: bool = False) -> list[str]:
    """What the SageMaker training toolkit hands the entry point: values JSON-decoded (all or none;
    `per_value` for toolkits that decode each), SageMaker's own keys dropped, then `--key value`
    with a decoded mapping rendered as `k=v,k=v`."""

    def decode(v):
        try:
            return json.loads(v)
        except ValueError:
            if per_value:
                return v
            raise

    try:
        decoded = {k: decode(v) for k, v in hyperparameters.items()}
    except ValueError:
        decoded = dict(hyperparameters)
    argv = []
    for k in sorted(k for k in decoded if not k.startswith("sagemaker_")):
        v = decoded[k]
        argv += [f"--{k}", ",".join(f"{a}={b}" for a, b in sorted(v.items())) if isinstance(v, dict) else str(v)]
    return argv


def _pairs(argv: list[str]) -> dict:
    return dict(zip(argv[::2], argv[1::2], strict=True))


@pytest.mark.parametrize("per_value", [False, True])
def test_sagemaker_hyperparameters_reach_the_entry_point_unchanged(per_value):
    cfg = load_model(MODELS_DIR / "diabetes_progression.yaml")
    hp = cfg.sagemaker_hyperparameters("s3://code/sourcedir.tar.gz", "eu-west-1")
    assert all(isinstance(v, str) and len(v) <= 2500 for v in hp.values())
    assert json.loads(hp["sagemaker_program"]) == "train.py"
    assert json.loads(hp["sagemaker_submit_directory"]) == "s3://code/sourcedir.tar.gz"
    assert json.loads(hp["sagemaker_container_log_level"]) == 20
    direct = _pairs(cfg.train_argv())
    assert _pairs(_toolkit_argv(hp, per_value)) == direct
    assert json.loads(direct["--estimator-params"])["n_estimators"] == 200
    # Not encoded, a per-value decoding toolkit would turn the JSON object into "k=v,...".
    naive = _pairs(_toolkit_argv(cfg.train_args(), per_value=True))["--estimator-params"]
    assert naive.startswith("learning_rate=0.05,")
