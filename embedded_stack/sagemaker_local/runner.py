"""Runs one CreateTrainingJob request on this machine, the way a SageMaker training instance does.

Phases and statuses follow SageMaker: Starting → Downloading (channels from S3 into
/opt/ml/input/data/<channel>, sourcedir.tar.gz into /opt/ml/code) → Training (the entry point in a
subprocess, stdout/stderr to CloudWatch Logs /aws/sagemaker/TrainingJobs, stream
`<job>/algo-1-<epoch>`) → Uploading (model/ as model.tar.gz, output/data/ as output.tar.gz under
`<S3OutputPath>/<job>/output/`) → Completed; a non-zero exit is Failed with the script's own error;
StopTrainingJob and MaxRuntimeInSeconds send SIGTERM, wait, SIGKILL, keep the model, and end Stopped.

AlgorithmSpecification.TrainingImage is recorded but not pulled: the runner's Python environment
stands in for the framework container (scikit-learn, XGBoost), and a sourcedir's requirements.txt
is not installed. Like a container image that has its libraries installed, a warm framework process
(warm_container.py) has imported them once and forks each Python entry point; jobs that set
import-time variables, non-Python programs, and any job when the warm process is unavailable start
a cold `python <program>`.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from embedded_stack.sagemaker_local import container
from embedded_stack.sagemaker_local.jobs import JobStore
from embedded_stack.sagemaker_local.warm_container import WarmContainer, WarmContainerUnavailable, needs_cold_start

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PASSED_THROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


SMALL_OBJECT_BYTES = 8 * 1024 * 1024  # s3transfer's multipart threshold: below it one GET is all it would do


@functools.cache
def aws_client(service: str, endpoint_url: str, region: str):
    """One client per service for all jobs (clients are thread-safe; building one costs tens of ms)."""
    import boto3

    return boto3.session.Session().client(  # as the SageMaker identity, whose key the stack passes
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def download(s3, bucket: str, key: str, target: Path, size: int | None = None) -> None:
    """A known large object in parallel parts (download_file); others in one streamed GET, without the
    HeadObject download_file sends first to learn a size the channel listing already gave."""
    if size is not None and size > SMALL_OBJECT_BYTES:
        s3.download_file(bucket, key, str(target))
        return
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with target.open("wb") as out:
        shutil.copyfileobj(body, out)


class JobStopped(Exception):
    """The job was asked to stop (StopTrainingJob) or ran out of MaxRuntimeInSeconds."""


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class LogSink:
    """The container's output: a local file, a stderr tail for FailureReason, and CloudWatch Logs."""

    def __init__(self, logs_client, stream: str, path: Path, group: str = LOG_GROUP):
        self.logs, self.stream, self.group = logs_client, stream, group
        self.file = path.open("a", encoding="utf-8")
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=60)
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._last_ms = 0
        self._created = False
        self._broken = False

    def write(self, line: str, stderr: bool = False) -> None:
        line = line.rstrip("\n")
        with self._lock:
            self._last_ms = max(self._last_ms, int(time.time() * 1000))
            self._pending.append({"timestamp": self._last_ms, "message": line})
            self.file.write(line + "\n")
            if stderr:
                self.stderr_tail.append(line)

    def pump(self, pipe, stderr: bool) -> threading.Thread:
        def read() -> None:
            for raw in iter(pipe.readline, b""):
                self.write(raw.decode("utf-8", errors="replace"), stderr)
            pipe.close()

        t = threading.Thread(target=read, daemon=True)
        t.start()
        return t

    def flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
            self.file.flush()
        if not events or self._broken:
            return
        try:
            if not self._created:
                for call, kwargs in (
                    (self.logs.create_log_group, {"logGroupName": self.group}),
                    (self.logs.create_log_stream, {"logGroupName": self.group, "logStreamName": self.stream}),
                ):
                    try:
                        call(**kwargs)
                    except self.logs.exceptions.ResourceAlreadyExistsException:
                        pass
                self._created = True
            for i in range(0, len(events), 1000):
                self.logs.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=events[i : i + 1000]
                )
        except Exception as err:  # logs are a convenience: never fail the job for them
            log.warning("CloudWatch Logs unavailable for %s, keeping the local log only: %s", self.stream, err)
            self._broken = True

    def close(self) -> None:
        self.flush()
        self.file.close()


class TrainingRun(threading.Thread):
    """One job, from Starting to its final status, in a background thread of the control plane."""

    def __init__(
        self,
        store: JobStore,
        name: str,
        aws: dict[str, Any],
        python: str,
        slots: threading.Semaphore,
        stop_grace: float,
        warm: WarmContainer | None = None,
    ):
        super().__init__(name=f"training-{name}", daemon=True)
        self.store, self.job_name, self.aws, self.python = store, name, aws, python
        self.slots, self.stop_grace, self.warm = slots, stop_grace, warm
        self.stop_requested = threading.Event()
        self.layout = container.Layout(store.job_dir(name) / "opt" / "ml")
        self.request = store.get(name)
        self.deadline = float("inf")
        self.timed_out = False

    def stop(self) -> None:
        self.stop_requested.set()

    def _client(self, service: str):
        return aws_client(service, self.aws["endpoint_url"], self.aws["region"])

    def _check_stop(self) -> None:
        if time.time() > self.deadline:
            self.timed_out = True
        if self.timed_out or self.stop_requested.is_set():
            raise JobStopped

    def run(self) -> None:
        name = self.job_name
        try:
            while not self.slots.acquire(timeout=0.2):  # more jobs than slots: wait like for capacity
                self._check_stop()
                if self.store.get(name)["SecondaryStatus"] != "Pending":
                    self.store.transition(name, "Pending", "Waiting for capacity to run the training job")
        except JobStopped:
            self._end_stopped(None)
            return
        try:
            self._run()
        except Exception as err:
            log.exception("training job %s: internal error", name)
            self.store.finish(
                name, "Failed", "Failed", "Training job failed", FailureReason=f"InternalServerError: {err}"
            )
        finally:
            self.slots.release()

    def _run(self) -> None:
        name, req = self.job_name, self.request
        start = time.time()
        self.deadline = start + req["StoppingCondition"].get("MaxRuntimeInSeconds", 86400)
        self.store.transition(name, "Downloading", "Downloading input data", TrainingStartTime=start)
        s3 = self._client("s3")
        sink = LogSink(self._client("logs"), f"{name}/algo-1-{int(start)}", self.store.job_dir(name) / "algo-1.log")
        try:
            try:
                error = self._prepare(s3, sink)
                if error:
                    self.store.finish(name, "Failed", "Failed", "Training job failed", FailureReason=error)
                    return
                self._check_stop()
            except JobStopped:
                self._end_stopped(None)
                return
            self.store.transition(name, "Training", "Training image download completed. Training in progress.")
            returncode, command = self._execute(sink)
        finally:
            sink.close()
        if self.timed_out or self.stop_requested.is_set():
            self._end_stopped(s3)
        elif returncode == 0:
            self.store.transition(name, "Uploading", "Uploading generated training model")
            try:
                artifacts = self._upload(s3)
            except Exception as err:
                reason = f"ClientError: could not upload the model to {req['OutputDataConfig']['S3OutputPath']}: {err}"
                self.store.finish(name, "Failed", "Failed", "Training job failed", FailureReason=reason[:1024])
                return
            self.store.finish(name, "Completed", "Completed", "Training job completed", ModelArtifacts=artifacts)
        else:
            reason = container.failure_reason(self.layout, returncode, "\n".join(sink.stderr_tail), command)
            self.store.finish(name, "Failed", "Failed", "Training job failed", FailureReason=reason)

    def _prepare(self, s3, sink: LogSink) -> str | None:
        """The instance's setup: /opt/ml, config files, channels, code. Returns a ClientError reason."""
        req, lay = self.request, self.layout
        lay.create([c["ChannelName"] for c in req.get("InputDataConfig", [])])
        for filename, content in container.config_files(req).items():
            (lay.input_config_dir / filename).write_text(json.dumps(content))
        for ch in req.get("InputDataConfig", []):
            uri = ch["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, prefix = split_s3(uri)
            found = 0
            try:
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    for obj in page.get("Contents", []):
                        if obj["Key"].endswith("/"):
                            continue
                        self._check_stop()
                        # one object: its file name; a prefix: the key's path below it (as SDK local mode)
                        relative = (
                            Path(obj["Key"]).name if obj["Key"] == prefix else obj["Key"][len(prefix) :].lstrip("/")
                        )
                        if ".." in Path(relative).parts:
                            raise ValueError(f"key {obj['Key']} leaves the channel folder")
                        target = lay.channel_dir(ch["ChannelName"]) / relative
                        target.parent.mkdir(parents=True, exist_ok=True)
                        download(s3, bucket, obj["Key"], target, obj["Size"])
                        found += 1
            except JobStopped:
                raise
            except Exception as err:
                return f"ClientError: Data download failed:Could not download {uri}: {err}"
            if not found:
                return (
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please '
                    f"ensure that the bucket exists in the selected region ({self.aws['region']}), that objects "
                    "exist under that S3 prefix"
                )
            sink.write(f"Channel {ch['ChannelName']}: {found} object(s) from {uri}")
        framework, _ = container.split_hyperparameters(container.decode_hyperparameters(req["HyperParameters"]))
        program, submit = framework.get("sagemaker_program"), framework.get("sagemaker_submit_directory")
        if not program:
            return (
                "AlgorithmError: the embedded stack runs script mode only: set the hyperparameters "
                "sagemaker_program (entry point) and sagemaker_submit_directory (s3://.../sourcedir.tar.gz)"
            )
        if submit:
            if not str(submit).startswith("s3://"):
                return f"ClientError: sagemaker_submit_directory must be an s3:// URI, got {submit}"
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / "sourcedir.tar.gz"
                try:
                    download(s3, *split_s3(str(submit)), archive)
                    with tarfile.open(archive) as tar:
                        tar.extractall(lay.code_dir, filter="data")
                except Exception as err:
                    return f"ClientError: could not fetch the source directory {submit}: {err}"
        if (lay.code_dir / "requirements.txt").exists():
            sink.write("requirements.txt not installed: the local Python environment stands in for the container")
        if not (lay.code_dir / str(program)).exists():
            return f"AlgorithmError: entry point {program} not found in the source directory {submit or lay.code_dir}"
        return None

    def _environment(self) -> dict[str, str]:
        req, region = self.request, self.aws["region"]
        env = {k: os.environ[k] for k in PASSED_THROUGH_ENV if k in os.environ}
        env |= {
            # the execution role's stand-in: boto3 in the script talks to the stack's AWS
            "AWS_ENDPOINT_URL": self.aws["endpoint_url"],
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "NO_PROXY": "127.0.0.1,localhost",
            "TRAINING_JOB_NAME": req["TrainingJobName"],
            "TRAINING_JOB_ARN": req["TrainingJobArn"],
            "CURRENT_HOST": container.CURRENT_HOST,
            "SAGEMAKER_REGION": region,
            "SAGEMAKER_BASE_DIR": str(self.layout.root),
            "PYTHONPATH": str(self.layout.code_dir),
            "PYTHONUNBUFFERED": "1",
        }
        env |= req.get("Environment", {})
        return env | container.sm_environment(self.layout, req, os.cpu_count() or 1)

    def _execute(self, sink: LogSink) -> tuple[int, list[str]]:
        framework, _ = container.split_hyperparameters(
            container.decode_hyperparameters(self.request["HyperParameters"])
        )
        command = container.entry_point_command(
            self.python, str(framework["sagemaker_program"]), container.script_args(self.request)
        )
        sink.write("Invoking script with the following command:\n" + shlex.join(command))
        proc = self._start(command, self._environment(), sink)
        readers = [sink.pump(proc.stdout, False), sink.pump(proc.stderr, True)]
        while proc.poll() is None:
            try:
                self._check_stop()
            except JobStopped:
                self._terminate(proc)
                break
            try:  # returns as soon as the script ends; a stop request is seen within 0.25 s
                proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
            sink.flush()
        proc.wait()
        for t in readers:
            t.join(timeout=5)
        return proc.returncode, command

    def _start(self, command: list[str], env: dict[str, str], sink: LogSink):
        """The entry point's process: forked from the warm framework process when it can be, else cold."""
        if self.warm is None:
            cold_because = "no warm framework process"
        elif command[0] != self.python:
            cold_because = "not a Python entry point"
        else:
            variable = needs_cold_start(self.request.get("Environment", {}))
            cold_because = variable and f"the job sets {variable}, read at import time"
        if not cold_because:
            try:
                return self.warm.launch(command, env, str(self.layout.code_dir))
            except (WarmContainerUnavailable, OSError) as err:
                cold_because = str(err)
        if self.warm is not None:
            sink.write(f"Starting the entry point in a new Python process ({cold_because})")
        return subprocess.Popen(
            command,
            cwd=self.layout.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def _terminate(self, proc) -> None:
        """SIGTERM to the script's process group, then SIGKILL after the grace period (120 s on SageMaker)."""
        if self.timed_out and not self.stop_requested.is_set():
            self.store.transition(self.job_name, "Stopping", "Stopping the training job", "Stopping")
        for sig, wait in ((signal.SIGTERM, self.stop_grace), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _upload(self, s3) -> dict[str, str]:
        """model/ → model.tar.gz (always), output/data/ → output.tar.gz (when not empty)."""
        bucket, key = split_s3(self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/"))
        prefix = f"{key}/{self.job_name}/output".lstrip("/")
        for folder, filename in (
            (self.layout.model_dir, "model.tar.gz"),
            (self.layout.output_data_dir, "output.tar.gz"),
        ):
            if filename == "output.tar.gz" and not any(folder.iterdir()):
                continue
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / filename
                with tarfile.open(archive, "w:gz") as tar:
                    for child in sorted(folder.iterdir()):
                        tar.add(child, arcname=child.name)
                s3.upload_file(str(archive), bucket, f"{prefix}/{filename}")
        return {"S3ModelArtifacts": f"s3://{bucket}/{prefix}/model.tar.gz"}

    def _end_stopped(self, s3) -> None:
        """Stopped keeps what the script saved in the model folder, as SageMaker does."""
        fields: dict[str, Any] = {}
        if s3 is not None and self.layout.model_dir.exists():
            try:
                fields["ModelArtifacts"] = self._upload(s3)
            except Exception as err:
                log.warning("training job %s: artifacts of the stopped job not uploaded: %s", self.job_name, err)
        if self.timed_out and not self.stop_requested.is_set():
            self.store.finish(
                self.job_name,
                "Stopped",
                "MaxRuntimeExceeded",
                "Training job exceeded MaxRuntimeInSeconds provided",
                **fields,
            )
        else:
            self.store.finish(self.job_name, "Stopped", "Stopped", "Training job stopped", **fields)
