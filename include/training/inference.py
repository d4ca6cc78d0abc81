"""Serve a model trained by train.py: the SageMaker scikit-learn/XGBoost serving contract.

train.py copies this file into the model as `code/inference.py` and evaluates the production
model through `model_fn` and the same predict helpers, so what is served is what was judged.
It runs in the framework container's Python (3.8+): numpy, and the estimator's own package.

Requests (`input_fn`), one row or many; every row is checked against the model's features:

- `application/json`: a list of records `[{"age": 50, ...}, ...]`, one record `{"age": 50, ...}`,
  `{"instances": [...]}` holding records or rows (arrays in feature order), a list of rows
  `[[50, ...], ...]`, or one row `[50, ...]`. Values are numbers or strings holding a number.
- `text/csv`: rows in feature order, or with a header naming the features (in any order).
- Missing values (JSON null or NaN, an empty CSV cell, "nan") only when the model bundle says
  `allow_missing` (train.py sets it when the training features held missing values, so the
  estimator learned what they mean); infinities never.

Responses (`output_fn`), `application/json` (Accept may also be `*/*` or empty):

- classification: `{"predictions": [{"label": L, "top_classes": [{"label": L, "probability": p},
  ...]}, ...]}`, the `top_k` (3) most likely classes per row, most likely first (ties: the class
  listed first in `classes`), `label` is the first of them;
- regression: `{"predictions": [v, ...]}`, one number per row.

Bad requests raise `InvalidInput` (a ValueError) naming the problem, row (counted from 0, after a
CSV header) and feature: an empty body, bytes that are not UTF-8, malformed JSON or CSV, a missing
or unknown feature, too many or too few CSV values, a boolean, nested object or non-numeric
string, a missing value the model does not allow, an unsupported content or accept type. Its
`status_code` is 400, 415 (content type) or 406 (accept). How the servers turn it into a 4XX:

- the local model server (embedded_stack/sagemaker_local) answers a handler's ValueError with 400;
- sagemaker-inference-toolkit (the containers' multi-model server): InvalidInput then also
  derives from the toolkit's `BaseInferenceToolkitError`, whose `status_code` and message the
  toolkit's Transformer sends back;
- sagemaker-containers (the containers' default single-model gunicorn/Flask server) wraps every
  exception from a handler function into its ClientError, which Flask answers with 500; so when
  `sagemaker_containers` is loaded, `input_fn` returns the rejection instead of raising,
  `predict_fn` passes it on and `output_fn` answers it with a Flask response of that status.
  Anything else that fails (the estimator, a non-finite prediction) stays a 5XX.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from functools import lru_cache
from operator import itemgetter

MODEL_FILE = "model.joblib"
MODEL_FORMAT = "mlops-model/1"
JSON = "application/json"
CSV = "text/csv"
_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")
_NUMBER_TYPES = frozenset((int, float))

try:  # the inference toolkit's own error type carries the HTTP status its Transformer answers with
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError

    _ERROR_BASES: tuple = (ValueError, _ToolkitError)
except ImportError:  # not in a serving container
    _ERROR_BASES = (ValueError,)


class InvalidInput(*_ERROR_BASES):
    """A request the model cannot answer: a client error (4XX), the message names the problem."""

    def __init__(self, message: str, status_code: int = 400):
        Exception.__init__(self, message)
        self.message = self.phrase = message
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> str:
        return json.dumps({"error": type(self).__name__, "message": self.message})


class _Rejected:
    """An InvalidInput carried from input_fn to output_fn (sagemaker-containers only, see above)."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidInput):
        self.error = error


def model_fn(model_dir: str) -> dict:
    """The saved bundle: estimator, problem type, feature order, classes, top-k, allow_missing."""
    import joblib

    bundle = joblib.load(os.path.join(model_dir, MODEL_FILE))
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise ValueError(f"{model_dir}/{MODEL_FILE} is not a model saved by train.py ({MODEL_FORMAT})")
    bundle.setdefault("allow_missing", False)
    bundle.setdefault("fit_with_feature_names", _fit_with_feature_names(bundle["estimator"]))
    print(f"{MODEL_FILE}: predicting with {attach_predictor(bundle)}", file=sys.stderr, flush=True)
    return bundle


def attach_predictor(bundle: dict) -> str:
    """Predict with onnxruntime when the bundle holds the estimator's ONNX graph and onnxruntime loads it,
    else with the estimator itself; returns which. train.py keeps a graph only when it gives the
    estimator's answers (see its `compile_for_serving`), so either way the answers are the judged ones;
    the graph is the fast path (one row of the 5 MB benchmark model: ~0.1 ms against XGBoost's ~0.6 ms).
    """
    bundle.pop("_session", None)
    graph = bundle.get("onnx")
    if not graph:
        return "the estimator"
    try:
        import onnxruntime
    except ImportError:
        return "the estimator (the model holds an ONNX graph; onnxruntime is not installed)"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # a server process answers one request at a time
    try:
        session = onnxruntime.InferenceSession(graph["model"], options, providers=["CPUExecutionProvider"])
    except Exception as err:  # e.g. an onnxruntime older than the graph's opset
        return f"the estimator (onnxruntime {onnxruntime.__version__} cannot load the ONNX graph: {err})"
    bundle["_session"] = (session, graph["input"], graph["output"])
    return f"onnxruntime {onnxruntime.__version__} (ONNX graph checked against the estimator: {graph.get('checked')})"


def saved_bundle(bundle: dict) -> dict:
    """What joblib saves: the bundle without what model_fn attaches at load (the onnxruntime session)."""
    return {key: value for key, value in bundle.items() if not key.startswith("_")}


def _fit_with_feature_names(estimator) -> bool:
    """scikit-learn estimators fit on a DataFrame warn on bare arrays; they get a DataFrame (older models)."""
    if type(estimator).__module__.startswith("xgboost"):
        return False  # XGBoost predicts from arrays in its feature order, named or not
    return getattr(estimator, "feature_names_in_", None) is not None


# --- requests -----------------------------------------------------------------------------------


def input_fn(request_body, request_content_type: str = JSON):
    """The request as a float64 matrix in the model's feature order (or its InvalidInput)."""
    try:
        return _parse(request_body, request_content_type)
    except InvalidInput as err:
        if "sagemaker_containers" in sys.modules:
            return _Rejected(err)
        raise


def _parse(body, content_type: str):
    media_type, charset = _media_type(content_type)
    if media_type not in (JSON, CSV):
        raise InvalidInput(f"unsupported content type {content_type!r}; send {JSON} or {CSV}", status_code=415)
    if charset and charset not in _CHARSETS:
        raise InvalidInput(f"unsupported charset {charset!r} in {content_type!r}; send UTF-8", status_code=415)
    text = _text(body)
    if media_type == JSON:
        return _Request(_json_rows(text), "json")
    return _Request(_csv_rows(text), "csv")


class _Request:
    """Parsed, not yet checked against a model: input_fn does not see the model, predict_fn does."""

    __slots__ = ("rows", "kind")

    def __init__(self, rows, kind: str):
        self.rows, self.kind = rows, kind


def _media_type(content_type) -> tuple[str, str]:
    if not content_type:
        return JSON, ""
    media_type, _, params = str(content_type).partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _text(body) -> str:
    if body is None:
        raise InvalidInput("the request body is empty")
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidInput(
                f"the request body is not UTF-8: byte 0x{err.object[err.start]:02x} at offset {err.start}"
            ) from None
    elif not isinstance(body, str):
        raise InvalidInput(f"the request body is a {type(body).__name__}, not text")
    if body.startswith("\ufeff"):
        body = body[1:]
    if not body.strip():
        raise InvalidInput("the request body is empty")
    return body


def _unique_keys(pairs):
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise InvalidInput(f"duplicate key {dup!r} in a JSON object")
    return record


def _json_rows(text: str) -> list:
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise InvalidInput("malformed JSON: nested too deeply") from None
    if isinstance(doc, dict):
        if "instances" not in doc:
            return [doc]
        if len(doc) > 1:
            other = sorted(k for k in doc if k != "instances")
            raise InvalidInput(f"unexpected key(s) {other} next to 'instances'")
        doc = doc["instances"]
        if not isinstance(doc, list):
            raise InvalidInput(f"'instances' must be a list of records or rows, got {_kind(doc)}")
    elif not isinstance(doc, list):
        raise InvalidInput(f"the JSON body is {_kind(doc)}; send records, a record, rows or {{'instances': [...]}}")
    if doc and not isinstance(doc[0], (dict, list)):
        return [doc]  # one row in feature order
    return doc


def _csv_rows(text: str) -> list:
    try:
        return [row for row in csv.reader(io.StringIO(text), strict=True) if row]
    except csv.Error as err:
        raise InvalidInput(f"malformed CSV: {err}") from None


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, dict):
        return "a nested object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    return f"a {type(value).__name__}"


# --- rows to the model's matrix -----------------------------------------------------------------


@lru_cache(maxsize=16)
def _plan(features: tuple):
    """What checking rows against a feature list needs, computed once per model."""
    getter = itemgetter(*features) if len(features) > 1 else (lambda record: (record[features[0]],))
    return frozenset(features), getter


def _features_text(features) -> str:
    names = list(features)
    shown = ", ".join(names) if len(names) <= 12 else ", ".join(names[:4] + ["..."] + names[-2:])
    return f"{len(names)} feature(s): {shown}"


def to_matrix(bundle: dict, data):
    """Rows as a float64 matrix in the model's feature order, every value checked.

    `data` is what input_fn returns, a DataFrame (train.py's evaluation), a list of records or a
    list of rows in feature order. Raises InvalidInput naming the row, feature and problem.
    """
    import numpy as np

    features = tuple(bundle["features"])
    if isinstance(data, _Request):
        rows, kind = data.rows, data.kind
    elif hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a DataFrame
        return _frame_matrix(bundle, data, features)
    elif isinstance(data, np.ndarray):
        matrix = data.reshape(1, -1) if data.ndim == 1 else data
        if matrix.dtype.kind not in "iuf":  # strings, objects: each value checked
            return to_matrix(bundle, matrix.tolist())
        matrix = matrix.astype(np.float64)
        _check_finite(matrix, features, bool(bundle.get("allow_missing")))
        return matrix
    else:
        rows, kind = list(data), "json"
    if not rows:
        raise InvalidInput("the request holds no rows")
    feature_set, getter = _plan(features)
    n = len(features)
    if kind == "csv":
        rows = _csv_in_feature_order(rows, features, feature_set)
        matrix = None
        if all(len(row) == n for row in rows):
            try:
                matrix = np.array(rows, dtype=np.float64)
            except (ValueError, OverflowError):
                matrix = None
        if matrix is None:
            matrix = np.array([_checked_row(row, i, features, csv_cells=True) for i, row in enumerate(rows)])
    else:
        values = []
        for i, row in enumerate(rows):
            if type(row) is dict:
                if row.keys() != feature_set:
                    raise InvalidInput(_record_keys_problem(row, i, features, feature_set))
                row = getter(row)
            elif type(row) is not list:
                raise InvalidInput(f"row {i} is {_kind(row)}; send a record (object) or a row (array) per row")
            if len(row) != n or not all(map(_NUMBER_TYPES.__contains__, map(type, row))):
                row = _checked_row(row, i, features, csv_cells=False)
            values.append(row)
        try:
            matrix = np.array(values, dtype=np.float64)
        except OverflowError:
            matrix = np.array([_checked_row(row, i, features, csv_cells=False) for i, row in enumerate(values)])
    _check_finite(matrix, features, bool(bundle.get("allow_missing")))
    return matrix


def _csv_in_feature_order(rows: list, features: tuple, feature_set: frozenset) -> list:
    """Drop a header row; when it names the features in another order, reorder the rows to the model's."""
    header = [cell.strip() for cell in rows[0]]
    if tuple(header) == features:
        return rows[1:]
    if not all(cell and not _is_number(cell) for cell in header):
        return rows  # a data row (with a number in it): its values are checked as such
    names = set(header)
    unknown = [c for c in header if c not in feature_set]
    missing = [f for f in features if f not in names]
    if unknown or missing or len(names) != len(header):
        duplicated = sorted({c for c in header if header.count(c) > 1})
        problems = [
            f"unknown column(s) {unknown}" if unknown else "",
            f"missing feature(s) {missing}" if missing else "",
            f"duplicated column(s) {duplicated}" if duplicated else "",
        ]
        raise InvalidInput(
            f"CSV header: {'; '.join(p for p in problems if p)}; the model takes {_features_text(features)}"
        )
    position = [header.index(f) for f in features]
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise InvalidInput(_count_problem(i, len(row), features))
    return [[row[p] for p in position] for row in body]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _record_keys_problem(record: dict, i: int, features: tuple, feature_set: frozenset) -> str:
    missing = [f for f in features if f not in record]
    unknown = [k for k in record if k not in feature_set]
    problems = [f"missing feature(s) {missing}" if missing else "", f"unknown feature(s) {unknown}" if unknown else ""]
    return f"row {i}: {'; '.join(p for p in problems if p)}; the model takes {_features_text(features)}"


def _count_problem(i: int, count: int, features: tuple) -> str:
    many = "too many" if count > len(features) else "too few"
    return f"row {i} has {count} values ({many}); the model takes {_features_text(features)}"


def _checked_row(row, i: int, features: tuple, csv_cells: bool) -> list:
    """One row's values as floats, or the InvalidInput naming the first bad one (the slow path)."""
    if len(row) != len(features):
        raise InvalidInput(_count_problem(i, len(row), features))
    return [_checked_value(row[j], i, features[j], csv_cells) for j in range(len(features))]


def _checked_value(value, i: int, feature: str, csv_cell: bool) -> float:
    where = f"row {i}, feature {feature!r}"
    if value is None:
        return math.nan  # missing: _check_finite decides
    if isinstance(value, bool):
        raise InvalidInput(f"{where}: {_kind(value)} is not a number")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            raise InvalidInput(f"{where}: {value!r:.40} is too large for a float") from None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan  # an empty CSV cell or "": missing
        try:
            return float(text)
        except ValueError:
            raise InvalidInput(f"{where}: {value[:40]!r} is not a number") from None
    raise InvalidInput(f"{where}: {_kind(value)} is not a number")


def _check_finite(matrix, features: tuple, allow_missing: bool) -> None:
    import numpy as np

    if matrix.ndim != 2 or matrix.shape[1] != len(features):
        raise InvalidInput(
            f"the rows do not have {len(features)} values each; the model takes {_features_text(features)}"
        )
    if np.isfinite(matrix).all():
        return
    nan = np.isnan(matrix)
    bad = np.isinf(matrix) | (nan if not allow_missing else False)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        if nan[i, j]:
            raise InvalidInput(
                f"row {i}, feature {features[j]!r}: missing value (null, NaN or empty); this model takes none"
            )
        raise InvalidInput(f"row {i}, feature {features[j]!r}: {matrix[i, j]} is not a finite number")


def _frame_matrix(bundle: dict, frame, features: tuple):
    """A DataFrame's feature columns as a matrix, with the same checks as a request."""
    import numpy as np

    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"missing feature(s) {missing}; the model takes {_features_text(features)}")
    columns = frame[list(features)]
    try:
        matrix = columns.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        matrix = np.array(
            [_checked_row(row, i, features, csv_cells=False) for i, row in enumerate(columns.itertuples(index=False))]
        )
    if not len(matrix):
        raise InvalidInput("the request holds no rows")
    _check_finite(matrix, features, bool(bundle.get("allow_missing")))
    return matrix


# --- predictions --------------------------------------------------------------------------------


def _checked_matrix(bundle: dict, data):
    """A float64 matrix from to_matrix as is (already checked), anything else through to_matrix first."""
    import numpy as np

    return data if type(data) is np.ndarray and data.dtype == np.float64 else to_matrix(bundle, data)


def _model_input(bundle: dict, data):
    """The estimator's input: the checked matrix, as a DataFrame for models fit with feature names."""
    matrix = _checked_matrix(bundle, data)
    if bundle.get("fit_with_feature_names") is None:  # a bundle straight from train.py's fit
        bundle["fit_with_feature_names"] = _fit_with_feature_names(bundle["estimator"])
    if bundle["fit_with_feature_names"]:
        import pandas as pd

        return pd.DataFrame(matrix, columns=list(bundle["features"]))
    return matrix


def predict_values(bundle: dict, data):
    """Regression: one number per row (data: a matrix from to_matrix, a DataFrame, records or rows)."""
    out = _session_call(bundle, data) if "_session" in bundle else None
    if out is not None:
        return out.reshape(-1).astype("float64")
    return _estimator_call(bundle["estimator"].predict, _model_input(bundle, data))


def predict_proba(bundle: dict, data):
    """Classification: probabilities, column j for `bundle['classes'][j]`."""
    out = _session_call(bundle, data) if "_session" in bundle else None
    if out is not None:
        return out
    X = _model_input(bundle, data)
    estimator = bundle["estimator"]
    fast = _xgboost_proba(estimator) if type(estimator).__module__.startswith("xgboost") else None
    return _estimator_call(fast or estimator.predict_proba, X)


def _xgboost_proba(estimator):
    """XGBClassifier.predict_proba without the scikit-learn wrapper's per-call global config switches and
    checks (~100 us of a single-row request): the booster's inplace_predict over the same iteration range
    (best_iteration after early stopping, else every tree), for the softprob and binary:logistic
    objectives with tree boosters; None (use predict_proba) for anything else."""
    if getattr(estimator, "objective", None) not in ("multi:softprob", "binary:logistic") or getattr(
        estimator, "booster", None
    ) not in (None, "gbtree", "dart"):
        return None
    try:
        booster = estimator.get_booster()
    except Exception:  # not fitted: predict_proba says so
        return None
    try:  # as XGBModel._get_iteration_range: best_iteration exists only after early stopping
        iteration_range = (0, estimator.best_iteration + 1)
    except AttributeError:
        iteration_range = (0, 0)

    def fast(X):
        out = booster.inplace_predict(X, iteration_range=iteration_range)
        if out.ndim == 1:  # binary:logistic: P(class 1) per row
            import numpy as np

            return np.column_stack([1.0 - out, out])
        return out

    return fast


def _session_call(bundle: dict, data):
    """The ONNX graph's output for checked rows (float32 in, as XGBoost and scikit-learn's trees take them);
    None when a value is beyond float32's range, which only the estimator answers as it was judged."""
    import numpy as np

    matrix = _checked_matrix(bundle, data)
    with np.errstate(over="ignore"):
        narrow = matrix.astype(np.float32)
    if np.isinf(narrow).any():  # to_matrix lets no infinity through: this one is an overflow
        return None
    session, input_name, output_name = bundle["_session"]
    return session.run([output_name], {input_name: narrow})[0]


def _estimator_call(method, X):
    try:
        return method(X)
    except ValueError as err:  # the rows were checked: a failure here is the model's, not the client's
        raise RuntimeError(f"the estimator failed on checked input: {err}") from err


def predict_fn(input_data, model: dict):
    """One prediction per row: the value (regression) or the top-k classes with probabilities."""
    if type(input_data) is _Rejected:
        return input_data
    try:
        X = to_matrix(model, input_data)
    except InvalidInput as err:
        if "sagemaker_containers" in sys.modules:
            return _Rejected(err)
        raise
    if model["problem_type"] == "regression":
        values = predict_values(model, X).tolist()
        if not all(map(math.isfinite, values)):
            raise RuntimeError("the model predicted a value that is not finite")
        return {"predictions": values}
    return {"predictions": top_classes(model, predict_proba(model, X))}


def top_classes(bundle: dict, probabilities) -> list:
    """Per row, the top_k classes by probability, most likely first (ties: the first class listed)."""
    import numpy as np

    classes = bundle["classes"]
    k = min(int(bundle.get("top_k", 3)), len(classes))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(probabilities, order, axis=1).tolist()
    out = []
    for indexes, probs in zip(order.tolist(), picked):  # noqa: B905 (no strict= before Python 3.10; same length)
        ranked = [{"label": classes[j], "probability": probs[r]} for r, j in enumerate(indexes)]
        out.append({"label": ranked[0]["label"], "top_classes": ranked})
    return out


# --- responses ----------------------------------------------------------------------------------


def output_fn(prediction, accept: str = JSON):
    """JSON body and its content type (the serving toolkits take a (body, type) tuple)."""
    if type(prediction) is _Rejected:
        return _error_response(prediction.error)
    if not _accepts_json(accept):
        err = InvalidInput(f"unsupported accept type {accept!r}; this model answers {JSON}", status_code=406)
        if "sagemaker_containers" in sys.modules:
            return _error_response(err)
        raise err
    try:
        return json.dumps(prediction, allow_nan=False), JSON
    except ValueError as err:
        raise RuntimeError(f"the prediction cannot be written as JSON: {err}") from err


def _accepts_json(accept) -> bool:
    if not accept:
        return True
    for entry in str(accept).split(","):
        media_type = entry.split(";")[0].strip().lower()
        if media_type in (JSON, "*/*", "application/*", ""):
            return True
    return False


def _error_response(error: InvalidInput):
    """sagemaker-containers' Flask response with the error's status (see the module docstring)."""
    from sagemaker_containers.beta.framework import worker

    return worker.Response(response=error.to_json(), status=error.status_code, mimetype=JSON)
