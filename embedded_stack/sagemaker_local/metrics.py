"""Per-variant endpoint metrics in CloudWatch's `AWS/SageMaker` namespace, aggregated off the request path.

The runtime records each invocation in memory (a lock and four additions); `flush()` puts one
StatisticValues datum per metric, endpoint and variant (dimensions EndpointName, VariantName) with
PutMetricData. Invocations counts the requests a variant received; Invocation4XXErrors and
Invocation5XXErrors are 0/1 per request (so Average is the error rate, as on SageMaker);
ModelLatency (the model server's answer, as seen by the runtime) and OverheadLatency (the rest of
the time in the runtime) are in microseconds.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"
UNITS = {
    "Invocations": "None",
    "Invocation4XXErrors": "None",
    "Invocation5XXErrors": "None",
    "ModelLatency": "Microseconds",
    "OverheadLatency": "Microseconds",
}


class Statistic:
    __slots__ = ("count", "total", "low", "high")

    def __init__(self):
        self.count, self.total, self.low, self.high = 0, 0.0, float("inf"), float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value


class EndpointMetrics:
    def __init__(self, cloudwatch_for_region):
        self.cloudwatch_for_region = cloudwatch_for_region
        self._lock = threading.Lock()
        self._stats: dict[tuple, Statistic] = defaultdict(Statistic)
        self.record_samples: list | None = None  # a list here collects raw ModelLatency values (benchmarks)

    def record(
        self, region: str, endpoint: str, variant: str, status: int, model_us: int | None, overhead_us: int
    ) -> None:
        """One invocation routed to a variant: status is the model's (or the runtime's) HTTP status."""
        key = (region, endpoint, variant)
        with self._lock:
            s = self._stats
            s[(*key, "Invocations")].add(1)
            s[(*key, "Invocation4XXErrors")].add(1 if 400 <= status < 500 else 0)
            s[(*key, "Invocation5XXErrors")].add(1 if status >= 500 else 0)
            if model_us is not None:
                s[(*key, "ModelLatency")].add(model_us)
                if self.record_samples is not None:
                    self.record_samples.append(model_us)
            s[(*key, "OverheadLatency")].add(overhead_us)

    def flush(self) -> None:
        with self._lock:
            stats, self._stats = self._stats, defaultdict(Statistic)
        by_region: dict[str, list] = defaultdict(list)
        for (region, endpoint, variant, name), st in stats.items():
            by_region[region].append(
                {
                    "MetricName": name,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint},
                        {"Name": "VariantName", "Value": variant},
                    ],
                    "StatisticValues": {
                        "SampleCount": st.count,
                        "Sum": st.total,
                        "Minimum": st.low,
                        "Maximum": st.high,
                    },
                    "Unit": UNITS[name],
                }
            )
        for region, data in by_region.items():
            try:
                cw = self.cloudwatch_for_region(region)
                for i in range(0, len(data), 1000):
                    cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 1000])
            except Exception as err:
                log.warning("endpoint metrics for %s not put into CloudWatch: %s", region, err)


class Flusher(threading.Thread):
    """Calls each callback every `interval` seconds and once more on stop()."""

    def __init__(self, interval: float, callbacks: list):
        super().__init__(name="serving-flusher", daemon=True)
        self.interval, self.callbacks = interval, callbacks
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        for callback in self.callbacks:
            try:
                callback()
            except Exception as err:
                log.warning("flush failed: %s", err)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
        self.flush()
