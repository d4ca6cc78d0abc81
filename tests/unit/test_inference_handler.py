"""The inference handler as the serving containers call it, on real models trained by train.py on the
bundled data: the answers (top 3 classes, values), every request shape giving the same answer, and
every bad request refused with an InvalidInput that names the problem."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from datetime import date

import numpy as np
import pytest

from embedded_stack.seed import diabetes_frame, digits_frame
from mlops.training.config import MODELS_DIR, TRAINING_DIR, load_model
from mlops.training.data import split_frame

TRAIN_PY = TRAINING_DIR / "train.py"
ONNX_TOLERANCE = 1e-4  # train.py's: how far the served ONNX graph's answers may be from the estimator's


def _train(tmp_path, frame, cfg, argv=None):
    split = split_frame(frame, cfg.key, validation=cfg.split.validation, test=cfg.split.test, seed=cfg.split.seed)
    env = {}
    for name in ("train", "validation", "test"):
        folder = tmp_path / "input" / name
        folder.mkdir(parents=True)
        frame[split == name].to_csv(folder / "data.csv", index=False)
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    model_dir = tmp_path / "model"
    env |= {"SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DIR": str(tmp_path / "out")}
    env["SM_OUTPUT_DATA_DIR"] = str(tmp_path / "out" / "data")
    proc = subprocess.run(
        [sys.executable, str(TRAIN_PY), *(argv or cfg.train_argv())],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return model_dir


def _served_handler(model_dir, name):
    """The handler copied into the model, imported as the container imports it."""
    spec = importlib.util.spec_from_file_location(name, model_dir / "code" / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Served:
    def __init__(self, model_dir, name, cfg, frame):
        self.handler = _served_handler(model_dir, name)
        self.model = self.handler.model_fn(str(model_dir))
        self.features = list(cfg.features)
        self.rows = frame[self.features].head(5)
        self.frame = frame

    def invoke(self, body, content_type="application/json", accept="application/json"):
        h = self.handler
        out, content = h.output_fn(h.predict_fn(h.input_fn(body, content_type), self.model), accept)
        assert content == "application/json"
        return json.loads(out)["predictions"]

    def error(self, body, content_type="application/json", accept="application/json") -> str:
        with pytest.raises(self.handler.InvalidInput) as caught:
            self.invoke(body, content_type, accept)
        assert isinstance(caught.value, ValueError)
        return caught.value


def _estimator_only(bundle: dict) -> dict:
    """The bundle without its ONNX graph and session: predictions come from bundle["estimator"]."""
    return {k: v for k, v in bundle.items() if k not in ("onnx", "_session")}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    cfg = load_model(MODELS_DIR / "digits_classifier.yaml")
    frame = digits_frame()
    return Served(_train(tmp_path_factory.mktemp("digits"), frame, cfg), "digits_inference", cfg, frame)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    cfg = load_model(MODELS_DIR / "diabetes_progression.yaml")
    frame = diabetes_frame(date(2026, 10, 1), 21)
    return Served(_train(tmp_path_factory.mktemp("diabetes"), frame, cfg), "diabetes_inference", cfg, frame)


@pytest.fixture(scope="module", params=["digits", "diabetes"])
def served(request, digits, diabetes):
    return {"digits": digits, "diabetes": diabetes}[request.param]


# --- answers ------------------------------------------------------------------------------------


def test_classification_answers_the_top3_classes_sorted(digits):
    predictions = digits.invoke(json.dumps(digits.rows.to_dict(orient="records")))
    probabilities = digits.model["estimator"].predict_proba(digits.rows.to_numpy(dtype=float))
    assert len(predictions) == 5
    for p, row, truth in zip(predictions, probabilities, digits.frame["label"].head(5), strict=True):
        assert set(p) == {"label", "top_classes"} and len(p["top_classes"]) == 3
        probs = [c["probability"] for c in p["top_classes"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-12
        assert p["label"] == p["top_classes"][0]["label"] == int(np.argmax(row))
        assert [c["label"] for c in p["top_classes"]] == [int(j) for j in np.argsort(-row, kind="stable")[:3]]
        assert probs == pytest.approx([float(row[c["label"]]) for c in p["top_classes"]], abs=ONNX_TOLERANCE)
        assert truth in [c["label"] for c in p["top_classes"]]


def test_regression_answers_the_value(diabetes):
    predictions = diabetes.invoke(json.dumps(diabetes.rows.to_dict(orient="records")))
    expected = diabetes.model["estimator"].predict(diabetes.rows.to_numpy(dtype=float))
    assert predictions == pytest.approx([float(v) for v in expected], rel=ONNX_TOLERANCE)
    assert all(isinstance(v, float) and 25 < v < 346 for v in predictions)


def test_every_request_shape_gives_the_same_answers(served):
    rows = served.rows
    records = rows.to_dict(orient="records")
    lists = rows.to_numpy().tolist()
    many = served.invoke(json.dumps(records))
    assert len(many) == 5
    assert served.invoke(json.dumps({"instances": records})) == many
    assert served.invoke(json.dumps({"instances": lists})) == many
    assert served.invoke(json.dumps(lists)) == many
    assert served.invoke(rows.to_csv(index=False), "text/csv") == many
    assert served.invoke(rows.to_csv(index=False, header=False).encode(), "text/csv; charset=utf-8") == many
    shuffled = rows[list(reversed(served.features))]  # a header names the columns: any order
    assert served.invoke(shuffled.to_csv(index=False), "text/csv") == many
    assert served.invoke(json.dumps([dict(reversed(r.items())) for r in records])) == many
    assert served.invoke(json.dumps([{k: str(v) for k, v in r.items()} for r in records])) == many
    for i in range(5):  # one row alone: the batch's answer (up to the last float32 bits a batch size changes)
        alone = served.invoke(json.dumps(records[i]))
        if served.model["problem_type"] == "regression":
            assert alone == pytest.approx([many[i]], rel=1e-12)
        else:
            _assert_same_classes(alone, [many[i]])
        assert served.invoke(json.dumps(lists[i])) == alone
        assert served.invoke(",".join(map(str, lists[i])) + "\r\n", "text/csv") == alone
    assert served.invoke(json.dumps(records).encode(), "application/json", accept="*/*") == many
    assert served.invoke(json.dumps(records), None, accept=None) == many


def _assert_same_classes(a, b):
    def ranked(predictions):
        return [[(c["label"], c["probability"]) for c in p["top_classes"]] for p in predictions]

    for row_a, row_b in zip(ranked(a), ranked(b), strict=True):
        assert [label for label, _ in row_a] == [label for label, _ in row_b]
        assert [p for _, p in row_a] == pytest.approx([p for _, p in row_b], rel=1e-5, abs=1e-9)


def test_served_predictions_equal_the_evaluation_path(served):
    """train.py evaluates through to_matrix + predict_values/predict_proba on a DataFrame: the same numbers."""
    h, model = served.handler, served.model
    frame = served.frame.head(50)
    if model["problem_type"] == "regression":
        evaluated = h.predict_values(model, frame[served.features])
        served_values = served.invoke(frame[served.features].to_csv(index=False), "text/csv")
        assert served_values == evaluated.tolist()
    else:
        evaluated = h.predict_proba(model, h.to_matrix(model, frame))
        assert h.top_classes(model, evaluated) == served.invoke(json.dumps(frame[served.features].to_numpy().tolist()))


def test_a_model_fit_with_feature_names_gets_a_frame_and_the_same_answer(digits, recwarn):
    """Models saved before train.py fitted on bare matrices know feature names: they keep getting them."""
    from sklearn.linear_model import LogisticRegression

    features = digits.features
    train = digits.frame.head(400)
    named = LogisticRegression(C=0.05, max_iter=500).fit(train[features], train["label"])
    bundle = {k: v for k, v in _estimator_only(digits.model).items() if k != "fit_with_feature_names"}
    bundle["estimator"] = named
    h = digits.handler
    answers = h.predict_fn(h.input_fn(json.dumps(digits.rows.to_dict(orient="records"))), bundle)["predictions"]
    expected = named.predict_proba(digits.rows)
    assert [p["top_classes"][0]["probability"] for p in answers] == [float(max(r)) for r in expected]
    assert bundle["fit_with_feature_names"] is True
    assert not [w for w in recwarn if "feature names" in str(w.message)]


def test_missing_values_pass_only_when_the_bundle_allows_them(diabetes):
    h = diabetes.handler
    record = diabetes.rows.to_dict(orient="records")[0]
    body = json.dumps({**record, "bmi": None})
    assert "missing value" in str(diabetes.error(body))
    bundle = {**_estimator_only(diabetes.model), "allow_missing": True}
    seen = []

    class Recorder:
        def predict(self, X):
            seen.append(X)
            return np.zeros(len(X))

    bundle["estimator"] = Recorder()
    bundle["fit_with_feature_names"] = False
    h.predict_fn(h.input_fn(body), bundle)
    h.predict_fn(
        h.input_fn(",".join("" if f == "bmi" else str(record[f]) for f in diabetes.features), "text/csv"), bundle
    )
    for X in seen:
        j = diabetes.features.index("bmi")
        assert math.isnan(X[0, j]) and np.isfinite(np.delete(X[0], j)).all()
    infinite = h.input_fn(json.dumps({**record, "bmi": float("inf")}))
    with pytest.raises(h.InvalidInput, match="row 0, feature 'bmi': inf is not a finite number"):
        h.predict_fn(infinite, bundle)


# --- bad requests -------------------------------------------------------------------------------


def _record(served, **changes):
    record = served.rows.to_dict(orient="records")[0]
    record.update(changes)
    return record


@pytest.mark.parametrize(
    "make_body, content_type, named",
    [
        (lambda s: "", "application/json", "the request body is empty"),
        (lambda s: b"  \n", "text/csv", "the request body is empty"),
        (lambda s: "[]", "application/json", "the request holds no rows"),
        (lambda s: '{"instances": []}', "application/json", "the request holds no rows"),
        (lambda s: '{"age": 1,', "application/json", "malformed JSON: Expecting property name"),
        (lambda s: "[1, 2", "application/json", "malformed JSON"),
        (lambda s: '"x"', "application/json", "the JSON body is a string ('x')"),
        (lambda s: '{"instances": {"a": 1}}', "application/json", "'instances' must be a list"),
        (lambda s: json.dumps({"instances": [], "extra": 1}), "application/json", "unexpected key(s) ['extra']"),
        (lambda s: '{"a": 1, "a": 2}', "application/json", "duplicate key 'a'"),
        (lambda s: b'{"age": "\xff"}', "application/json", "not UTF-8: byte 0xff at offset 9"),
        (lambda s: b"1,2,\xe9", "text/csv", "not UTF-8: byte 0xe9 at offset 4"),
        (lambda s: '1,"2\n', "text/csv", "malformed CSV"),
        (lambda s: "[1, 2]", "application/json", "row 0 has 2 values (too few)"),
        (lambda s: json.dumps([1] * (len(s.features) + 1)), "application/json", "values (too many)"),
        (lambda s: json.dumps([[1] * len(s.features), 7]), "application/json", "row 1 is a int; send a record"),
        (lambda s: "{}", "application/xml", "unsupported content type 'application/xml'"),
        (lambda s: "{}", "application/json; charset=latin-1", "unsupported charset 'latin-1'"),
    ],
)
def test_bad_bodies_are_refused_with_the_problem_named(served, make_body, content_type, named):
    err = served.error(make_body(served), content_type)
    assert named in str(err)
    assert err.status_code == (415 if "unsupported" in named else 400)


def test_a_missing_feature_is_named(served):
    first = served.features[1]
    record = _record(served)
    del record[first]
    assert f"row 0: missing feature(s) ['{first}']; the model takes {len(served.features)} feature(s)" in str(
        served.error(json.dumps(record))
    )
    records = served.rows.to_dict(orient="records")
    del records[3][first]
    assert f"row 3: missing feature(s) ['{first}']" in str(served.error(json.dumps({"instances": records})))


def test_an_unknown_feature_is_named(served):
    assert "row 0: unknown feature(s) ['cholesterol']" in str(served.error(json.dumps(_record(served, cholesterol=1))))
    renamed = _record(served)
    renamed["Age"] = renamed.pop(served.features[0])
    message = str(served.error(json.dumps(renamed)))
    assert f"missing feature(s) ['{served.features[0]}']; unknown feature(s) ['Age']" in message


@pytest.mark.parametrize(
    "value, named",
    [
        ("abc", "'abc' is not a number"),
        (True, "a boolean (true) is not a number"),
        ({"v": 1}, "a nested object is not a number"),
        ([1, 2], "a list is not a number"),
        (None, "missing value (null, NaN or empty); this model takes none"),
        ("", "missing value"),
        (float("nan"), "missing value"),
        ("NaN", "missing value"),
        (float("inf"), "inf is not a finite number"),
        ("-inf", "-inf is not a finite number"),
        (10**400, "is too large for a float"),
    ],
)
def test_a_wrong_value_is_refused_with_row_and_feature(served, value, named):
    feature = served.features[2]
    records = served.rows.to_dict(orient="records")
    records[1][feature] = value
    message = str(served.error(json.dumps(records)))
    assert message.startswith(f"row 1, feature '{feature}': ") and named in message, message
    rows = served.rows.to_numpy().tolist()
    rows[1][2] = value
    assert str(served.error(json.dumps({"instances": rows}))) == message


@pytest.mark.parametrize(
    "cell, named", [("abc", "'abc' is not a number"), ("", "missing value"), ("true", "'true' is not a number")]
)
def test_a_wrong_csv_value_is_refused_with_row_and_feature(served, cell, named):
    rows = served.rows.astype(str).to_numpy().tolist()
    rows[2][3] = cell
    headless = "\n".join(",".join(r) for r in rows)
    message = str(served.error(headless, "text/csv"))
    assert message.startswith(f"row 2, feature '{served.features[3]}': ") and named in message, message
    assert str(served.error(",".join(served.features) + "\n" + headless, "text/csv")) == message


def test_csv_rows_with_too_many_or_too_few_values(served):
    n = len(served.features)
    good = ",".join(["1"] * n)
    assert f"row 1 has {n + 1} values (too many)" in str(served.error(f"{good}\n{good},1\n", "text/csv"))
    assert f"row 0 has {n - 1} values (too few)" in str(served.error(",".join(["1"] * (n - 1)), "text/csv"))
    header = ",".join(served.features)
    assert f"row 0 has {n + 1} values (too many)" in str(served.error(f"{header}\n{good},1", "text/csv"))


def test_a_bad_csv_header_is_named(served):
    header = served.features[:-1] + ["cholesterol"]
    message = str(served.error(",".join(header) + "\n" + ",".join(["1"] * len(header)), "text/csv"))
    assert f"CSV header: unknown column(s) ['cholesterol']; missing feature(s) ['{served.features[-1]}']" in message


def test_an_unsupported_accept_type_is_refused(served):
    body = json.dumps(_record(served))
    err = served.error(body, accept="text/csv")
    assert "unsupported accept type 'text/csv'; this model answers application/json" in str(err)
    assert err.status_code == 406
    assert served.invoke(body, accept="text/csv, application/json;q=0.5") == served.invoke(body)


def test_under_sagemaker_containers_a_bad_request_becomes_a_4xx_response(served, monkeypatch):
    """Its Flask worker answers any exception from a handler function with 500: the handler answers with its status."""
    import types

    class Response:  # sagemaker_containers.beta.framework.worker.Response, a flask.Response
        def __init__(self, response=None, status=200, mimetype=None):
            self.body, self.status, self.mimetype = response, status, mimetype

    worker = types.SimpleNamespace(Response=Response)
    framework = types.ModuleType("sagemaker_containers.beta.framework")
    framework.worker = worker
    for name in ("sagemaker_containers", "sagemaker_containers.beta"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "sagemaker_containers.beta.framework", framework)
    h = served.handler
    record = _record(served)
    del record[served.features[0]]
    answer = h.output_fn(h.predict_fn(h.input_fn(json.dumps(record), "application/json"), served.model), JSON)
    assert answer.status == 400 and answer.mimetype == JSON
    assert json.loads(answer.body) == {
        "error": "InvalidInput",
        "message": f"row 0: missing feature(s) ['{served.features[0]}']; the model takes "
        + h._features_text(served.features),
    }
    unsupported = h.output_fn(h.predict_fn(h.input_fn("{}", "application/xml"), served.model), JSON)
    assert unsupported.status == 415
    good = h.predict_fn(h.input_fn(json.dumps(_record(served))), served.model)
    assert h.output_fn(good, "text/csv").status == 406
    assert h.output_fn(good, JSON)[1] == JSON


JSON = "application/json"
