"""A notifier for HITL operators: tells the bridge at once that a request was created.

    HITLOperator(..., notifiers=[SlackHitlNotifier(url="http://bridge:8000/airflow/notify", token=...)])

Airflow calls notifiers synchronously when the request is created, and a notifier that raises
fails the task; so this one never raises: if the bridge is down, it logs and the bridge's next
poll finds the request anyway. Only the standard library is used.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier


class SlackHitlNotifier(BaseNotifier):
    """POSTs ``{dag_id, run_id, task_id, map_index, try_number, ti_id}`` to the bridge."""

    template_fields = ("url",)

    def __init__(self, *, url: str | None = None, token: str | None = None, timeout: float = 2.0) -> None:
        super().__init__()
        self.url = url or os.environ.get("SLACK_HITL_NOTIFY_URL", "")
        self.token = token if token is not None else os.environ.get("SLACK_HITL_NOTIFY_TOKEN")
        self.timeout = timeout

    def notify(self, context: Any) -> None:
        if not self.url:
            self.log.warning("SlackHitlNotifier has no url (set url= or SLACK_HITL_NOTIFY_URL); not announcing")
            return
        ti = context["ti"]
        hint = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "try_number": ti.try_number,
            "ti_id": str(ti.id),
        }
        request = urllib.request.Request(
            self.url, data=json.dumps(hint).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                self.log.info("Announced the HITL request to the bridge (%s)", response.status)
        except (urllib.error.URLError, OSError) as error:
            # The next poll of the bridge finds the request anyway: never fail the task for this.
            self.log.warning("Could not announce the HITL request to %s: %s", self.url, error)
