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
    "overrides, field, message",
    [
        ({"problem_type": "ranking"}, "problem_type", "must be 'regression' or 'classification', got 'ranking'"),
        ({"model": "My-Model"}, "model", "'My-Model' must be lower_snake_case"),
        ({"model": "other"}, "model", "'other' must match the file name 'm'"),
        ({"description": None}, "description", "must be a valid string, got nothing"),
        (
            {"estimatr": {}},
            "estimatr",
            "unknown field 'estimatr'; did you mean 'estimator'? (allowed: model, description, owner, tags, "
            "problem_type, data, estimator, evaluation, retrain, version, training, deployment)",
        ),
        (
            {"data__featurs": ["x"]},
            "data.featurs",
            "unknown field 'featurs'; did you mean 'features'? (allowed: datasets, key, features, label, split)",
        ),
        (
            {"retrain__min_new_row": 5},
            "retrain.min_new_row",
            "unknown field 'min_new_row'; did you mean 'min_new_rows'? (allowed: min_new_rows, schedule)",
        ),
        ({"data__features": []}, "data.features", "must list at least one entry"),
        ({"data__features": "age"}, "data.features", "must be a list, got 'age'"),
        ({"data__features": ["age", "progression"]}, "data.label", "the label column 'progression' must not be among"),
        ({"data__features": ["age", "age"]}, "data.features", "lists 'age' twice"),
        ({"data__split": {"test": 1.5}}, "data.split.test", "must be less than or equal to 0.9, got 1.5"),
        (
            {"data__split": {"test": 0.5, "validation": 0.45}},
            "data.split",
            "validation + test leave 5% of rows to train; keep at least 10%",
        ),
        (
            {"estimator__class": "os.system"},
            "estimator.class",
            "'os.system' must be a dotted class path from sklearn.*",
        ),
        ({"estimator__hyperparameters": [1]}, "estimator.hyperparameters", "must be a mapping (key: value lines)"),
        (
            {"evaluation__primary_metric": "accuracy"},
            "evaluation.primary_metric",
            "'accuracy' is not a regression metric; one of mse, rmse, mae, r2",
        ),
        ({"evaluation__direction": "up"}, "evaluation.direction", "must be 'min' or 'max', got 'up'"),
        (
            {"evaluation__thresholds": {"r2": "at least 0.3"}},
            "evaluation.thresholds.r2",
            "expected a comparison like '>= 0.3'",
        ),
        (
            {"evaluation__thresholds": {"auc": ">= 0.3"}},
            "evaluation.thresholds.auc",
            "unknown regression metric 'auc'; one of mse, rmse, mae, r2",
        ),
        ({"evaluation__thresholds": {"r2": 0.3}}, "evaluation.thresholds.r2", "must be a valid string, got the number"),
        ({"evaluation__on_fail": "ignore"}, "evaluation.on_fail", "must be 'reject' or 'manual', got 'ignore'"),
        ({"retrain__min_new_rows": -1}, "retrain.min_new_rows", "must be greater than or equal to 0, got -1"),
        ({"retrain__min_new_rows": "100"}, "retrain.min_new_rows", "must be a valid integer, got '100'"),
        ({"version__manual_revision": "two"}, "version.manual_revision", "must be a valid integer, got 'two'"),
        ({"version__tag": "v 1"}, "version.tag", "'v 1' may hold letters, digits, '.', '_' and '-' only"),
        ({"version__tag": 1.1}, "version.tag", "must be a valid string, got the number 1.1 (quote it: '1.1')"),
        ({"training__framework": "pytorch"}, "training.framework", "must be 'sklearn' or 'xgboost', got 'pytorch'"),
        (
            {"estimator__class": "xgboost.XGBRegressor", "training__framework": "sklearn"},
            "training.framework",
            "estimator xgboost.XGBRegressor needs framework 'xgboost' (the sklearn container has no XGBoost)",
        ),
        (
            {"training__instance_type": "m5.large"},
            "training.instance_type",
            "'m5.large' is not a SageMaker instance type",
        ),
        ({"training__entry_point": "missing.py"}, "training.entry_point", "'missing.py' is not a file in"),
        (
            {"data__features": [f"feature_number_{i}" for i in range(200)]},
            "data.features",
            "too long for a SageMaker hyperparameter (2500 chars max)",
        ),
    ],
)
def test_errors_name_file_field_and_what_is_allowed(overrides, field, message, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(_doc(**overrides)))
    with pytest.raises(ConfigError) as err:
        load_model(path)
    assert str(err.value).splitlines()[0].startswith(f"{path}: {field}: {message}")


def test_every_field_problem_of_a_file_is_listed(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(_doc(retrain__shedule=["x"], training__instance_count="two", owner=None)))
    with pytest.raises(ConfigError) as err:
        load_model(path)
    fields = [p.field for p in err.value.problems]
    assert fields == ["owner", "retrain.shedule", "training.instance_count"]
    assert "did you mean 'schedule'?" in str(err.value)


def test_optional_sections_may_be_left_empty():
    cfg = parse_model(_doc(retrain=None, version=None, training=None, estimator__hyperparameters=None))
    assert cfg.retrain_min_new_rows == 100 and cfg.hyperparameters == {} and cfg.training.framework == "sklearn"


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
