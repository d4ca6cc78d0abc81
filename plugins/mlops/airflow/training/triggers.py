"""Wait in the triggerer, not on a worker, until the ingestion feeding a model is quiet.

In Airflow 3 neither tasks nor triggers touch the metadata database; the supported way to ask
about other DAGs' runs is the Task SDK's `RuntimeTaskInstance.get_dr_count`, which goes through
the supervisor to the execution API (the standard provider's DAG-state triggers do the same).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from airflow.triggers.base import BaseTrigger, TriggerEvent

ACTIVE_STATES = ("queued", "running")


def active_runs(dag_ids: list[str]) -> dict[str, int]:
    """Queued or running runs of each DAG (only those with any)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    counts = {d: RuntimeTaskInstance.get_dr_count(dag_id=d, states=list(ACTIVE_STATES)) for d in dag_ids}
    return {d: n for d, n in counts.items() if n}


def describe(active: dict[str, int]) -> str:
    return ", ".join(f"{dag_id}: {n} run(s) queued or running" for dag_id, n in sorted(active.items()))


class IngestionIdleTrigger(BaseTrigger):
    """Fires once no run of `dag_ids` is queued or running (a backfill queues all its runs at once)."""

    def __init__(self, dag_ids: list[str], poll_seconds: float = 30):
        super().__init__()
        self.dag_ids, self.poll_seconds = list(dag_ids), poll_seconds

    def serialize(self) -> tuple[str, dict]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"dag_ids": self.dag_ids, "poll_seconds": self.poll_seconds},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        polls = 0
        while True:
            polls += 1
            active = await sync_to_async(active_runs)(self.dag_ids)
            if not active:
                yield TriggerEvent({"idle": self.dag_ids, "polls": polls})
                return
            self.log.info("waiting for ingestion to finish: %s", describe(active))
            await asyncio.sleep(self.poll_seconds)
