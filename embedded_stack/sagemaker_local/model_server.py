"""One model server: the SageMaker framework inference-container contract, run as its own process.

    python model_server.py --model-dir D --socket S [--program inference.py] [--code-dir C]

Like the scikit-learn/XGBoost serving containers: import the handler module (SAGEMAKER_PROGRAM in
SAGEMAKER_SUBMIT_DIRECTORY, else `code/inference.py` inside the model), call `model_fn(model_dir)`
once, then answer `GET /ping` and `POST /invocations` with `input_fn(body, content_type)`,
`predict_fn(data, model)` and `output_fn(prediction, accept)` (a body, or a (body, content_type)
tuple). A handler's ValueError is the client's fault (400 with its message); any other exception
is a 500. One request runs at a time in a process (like a synchronous worker: handlers need not be
thread-safe, and BLAS in a forked process stays out of concurrent use); an endpoint's instances are
its processes. HTTP/1.1 with keep-alive on a unix socket (the container's port 8080 stands here as a
socket file the control plane connects to); the parser is minimal so the predict path stays short.

If the model does not load, the error text goes to `<socket>.failure` and the process exits 1:
the control plane reports it as the endpoint's FailureReason. Like train.py, this file runs in
the framework container's Python and imports nothing from the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sys
import threading
import traceback

JSON = "application/json"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
MAX_HEADER_BYTES = 65536


def load_handler(model_dir: str, program: str | None, code_dir: str | None):
    """The user module: SAGEMAKER_PROGRAM in the submit directory, else model_dir/code/inference.py."""
    code_dir = code_dir or os.path.join(model_dir, "code")
    program = program or "inference.py"
    path = program if os.path.isabs(program) else os.path.join(code_dir, program)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"inference handler {path} not found (SAGEMAKER_PROGRAM={program!r})")
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _default_input_fn(body, content_type):
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    kind = (content_type or JSON).split(";")[0].strip().lower()
    if kind == JSON:
        return json.loads(text)
    if kind == "text/csv":
        return [[float(v) for v in line.split(",")] for line in text.splitlines() if line.strip()]
    raise ValueError(f"Content type {content_type} is not supported by this framework.")


def _default_predict_fn(data, model):
    return model.predict(data)


def _default_output_fn(prediction, accept):
    if hasattr(prediction, "tolist"):
        prediction = prediction.tolist()
    return json.dumps(prediction), JSON


class Handler:
    """The four functions, with the toolkit's defaults for those the module leaves out."""

    def __init__(self, module, model_dir: str):
        if not hasattr(module, "model_fn"):
            raise AttributeError(f"the inference handler {module.__file__} defines no model_fn")
        self.input_fn = getattr(module, "input_fn", _default_input_fn)
        self.predict_fn = getattr(module, "predict_fn", _default_predict_fn)
        self.output_fn = getattr(module, "output_fn", _default_output_fn)
        self.model = module.model_fn(model_dir)
        self.lock = threading.Lock()

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        with self.lock:
            return self._invoke(body, content_type, accept)

    def _invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        try:
            data = self.input_fn(body, content_type)
            prediction = self.predict_fn(data, self.model)
            out = self.output_fn(prediction, accept)
        except ValueError as err:  # bad input, bad accept type: the caller's error
            return 400, str(err).encode(), "text/plain"
        except Exception as err:
            traceback.print_exc()
            return 500, f"{type(err).__name__}: {err}".encode(), "text/plain"
        if isinstance(out, tuple):
            out, out_type = out[0], out[1]
        else:
            out_type = accept if accept and accept != "*/*" else JSON
        if isinstance(out, str):
            out = out.encode()
        return 200, bytes(out), out_type


def _response(status: int, body: bytes, content_type: str = "text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def serve_connection(conn: socket.socket, handler: Handler) -> None:
    """Requests on one keep-alive connection until the peer closes it."""
    reader = conn.makefile("rb", buffering=65536)
    try:
        while True:
            line = reader.readline(MAX_HEADER_BYTES)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = reader.readline(MAX_HEADER_BYTES)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = reader.read(int(headers.get("content-length") or 0))
            path = path.split("?", 1)[0]
            if path == "/ping":
                reply = _response(200, b"") if method == "GET" else _response(405, b"")
            elif path == "/invocations" and method == "POST":
                status, out, out_type = handler.invoke(
                    body, headers.get("content-type", JSON), headers.get("accept", JSON)
                )
                reply = _response(status, out, out_type)
            else:
                reply = _response(404, b"")
            conn.sendall(reply)
    except (ConnectionError, OSError, ValueError):
        return
    finally:
        reader.close()
        conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="model_server.py")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--program", default=os.environ.get("SAGEMAKER_PROGRAM"))
    p.add_argument("--code-dir", default=None)
    args = p.parse_args(argv)
    failure = args.socket + ".failure"
    try:
        os.unlink(failure)
    except FileNotFoundError:
        pass
    try:
        handler = Handler(load_handler(args.model_dir, args.program, args.code_dir), args.model_dir)
    except BaseException as err:
        traceback.print_exc()
        with open(failure, "w") as f:
            f.write(f"{type(err).__name__}: {err}")
        return 1
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.socket)
    listener.listen(128)
    print(f"model server {os.getpid()} serving {args.model_dir} on {args.socket}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn, handler), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
