"""A Gradio page at the protocol level: the app under test (its process, address and event
layout), a page's session, its events and its event stream (bench.load, and the suite's
six-page test)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from dataclasses import dataclass, field

from grpo_demo.memory import rss_bytes


@dataclass
class Outcome:
    page: int
    what: str
    sent: float
    seconds: float
    status: str  # "answered" | "refused" | "failed"
    message: str = ""
    output: list | None = None
    changed: list = field(default_factory=list)  # states the event changed (Gradio's ids)


@dataclass
class App:
    """The app under test: its process, address and page layout (Gradio's /config)."""

    proc: subprocess.Popen | None  # None: an app started by someone else
    url: str
    config: dict = field(default_factory=dict)

    def dependency(self, api_name: str | None = None, target: str | None = None) -> dict:
        """An event by API name, or by the elem_id of its trigger (``"timer:2.0"``: a Timer)."""
        by_id = {c["id"]: c for c in self.config["components"]}
        for dep in self.config["dependencies"]:
            if api_name and dep.get("api_name") == api_name:
                return dep
            for comp_id, event in dep.get("targets", []):
                comp = by_id.get(comp_id, {})
                timer = comp.get("type") == "timer" and event == "tick"
                if timer and target == f"timer:{comp['props'].get('value')}":
                    return dep
        raise KeyError(api_name or target)

    def on_change(self, state_ids: list) -> list[dict]:
        """The events a page fires when these states changed (their ``.change`` listeners)."""
        return [
            dep
            for dep in self.config["dependencies"]
            if any(t[0] in state_ids and t[1] == "change" for t in dep.get("targets", []))
        ]

    def inputs(self, dep: dict, **by_elem_id) -> list:
        """The event's input values: the page's defaults, ``by_elem_id`` overriding; states
        are kept by the server (sent as null)."""
        by_id = {c["id"]: c for c in self.config["components"]}
        data = []
        for comp_id in dep["inputs"]:
            comp = by_id[comp_id]
            elem = (comp["props"].get("elem_id") or "").replace("-", "_")
            if comp.get("type") == "state":
                data.append(None)
            elif elem in by_elem_id:
                data.append(by_elem_id[elem])
            else:
                data.append(comp["props"].get("value"))
        return data

    def rss_gb(self) -> float:
        return rss_bytes(self.proc.pid) / 1e9 if self.proc else float("nan")


class Page:
    """One browser page: a session, its events sent to the queue, one event stream read."""

    def __init__(self, app: App, number: int, client):
        self.app, self.number, self.client = app, number, client
        self.session = uuid.uuid4().hex[:11]
        self.waiting: dict[str, asyncio.Future] = {}
        self.early: dict[str, list] = {}
        self.reader: asyncio.Task | None = None
        self.reading = False

    async def call(self, dep: dict, data: list, what: str) -> Outcome:
        sent = time.perf_counter()
        body = {
            "data": data,
            "event_data": None,
            "fn_index": dep["id"],
            "trigger_id": (dep.get("targets") or [[None]])[0][0],
            "session_hash": self.session,
        }
        try:
            r = await self.client.post(f"{self.app.url}/gradio_api/queue/join", json=body)
            r.raise_for_status()
        except Exception as exc:  # the app refused the connection: a failure, recorded
            return Outcome(self.number, what, sent, time.perf_counter() - sent, "failed", str(exc))
        event_id = r.json()["event_id"]
        done = asyncio.get_running_loop().create_future()
        self.waiting[event_id] = done
        for msg in self.early.pop(event_id, []):
            self._dispatch(msg)
        if not self.reading:
            self.reading = True
            self.reader = asyncio.create_task(self._read())
        msg = await done
        seconds = time.perf_counter() - sent
        output = msg.get("output") or {}
        if msg.get("success"):
            changed = output.get("changed_state_ids") or []
            data = output.get("data")
            return Outcome(self.number, what, sent, seconds, "answered", "", data, changed)
        text = output.get("error") or msg.get("message") or "no message"
        return Outcome(self.number, what, sent, seconds, "refused", str(text))

    def _dispatch(self, msg: dict) -> None:
        event_id = msg.get("event_id")
        if msg.get("msg") != "process_completed" or not event_id:
            return
        future = self.waiting.pop(event_id, None)
        if future is None:
            self.early.setdefault(event_id, []).append(msg)
        elif not future.done():
            future.set_result(msg)

    async def _read(self) -> None:
        """The page's event stream, reopened while events wait (Gradio closes it when none
        do); a dropped stream fails the events it carried."""
        try:
            while self.waiting:
                url = f"{self.app.url}/gradio_api/queue/data"
                params = {"session_hash": self.session}
                async with self.client.stream("GET", url, params=params) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("data:"):
                            msg = json.loads(line[5:])
                            if msg.get("msg") == "close_stream":
                                break
                            self._dispatch(msg)
        except Exception as exc:
            for future in self.waiting.values():
                if not future.done():
                    future.set_result({"success": False, "message": f"stream: {exc}"})
            self.waiting.clear()
        finally:
            self.reading = False
