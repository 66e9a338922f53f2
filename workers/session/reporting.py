"""What both kinds of agent session report: events naming the instance, and status changes.

Every event's ``data`` carries the title plus what identifies the session (``EVENT_TAGS``: the tmux
session name, or ``mode: sdk``); ``data.record`` holds instance fields for the supervisor to store.
"""

from __future__ import annotations

from typing import Any

from kasmos.supervisor.protocol import Event
from kasmos.workers.session.launch import LaunchSpec
from kasmos.workers.store import timefmt


class Reporting:
    spec: LaunchSpec
    status: str
    events: list[Event]

    def event_tags(self) -> dict[str, Any]:
        return {}

    def emit(self, kind: str, record: dict[str, Any] | None = None, **data: Any) -> None:
        body = {"title": self.spec.title, **self.event_tags(), **data}
        if record:
            body["record"] = {"id": self.spec.instance_id, **record}
        self.events.append(
            Event(
                ts=timefmt.now(),
                kind=kind,
                project=self.spec.project,
                task=self.spec.task or None,
                instance=self.spec.title,
                data=body,
            )
        )

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def _set_status(self, status: str, **record: Any) -> None:
        previous, self.status = self.status, status
        if status != previous or record:
            self.emit("agent.status", {"status": status, **record}, status=status, previous=previous)
