"""A student's browser session without the browser: Streamlit's own websocket protocol, spoken to a
running server, so that a class of 30 loads the server as 30 browsers on 30 machines would, and
this machine's cores go to the server and its workers.

What it does is what Streamlit's frontend does for these pages: it takes the XSRF cookie from the
health endpoint (the class identity of a browser), opens ``/_stcore/stream``, asks for a page run,
re-runs each fragment on the timer the server sends (``run_every``; cleared when a full run
starts), fetches each image once, and clicks buttons (a trigger value in the fragment the button
was drawn in). It keeps the text of every element drawn, to wait for what a student reads.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Sequence
from http.cookiejar import CookieJar
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FULL_RUN_DONE = 0  # ScriptFinishedStatus.FINISHED_SUCCESSFULLY: a whole page's run


def wire_state(kind: str, body: Any) -> WidgetState | None:
    """The value a browser reports for the widget ``body`` (an element of type ``kind``) as drawn:
    the script's value when it set one, else the default; None for a widget without a value
    (a button) or without a default."""
    state, given = WidgetState(id=body.id), body.set_value if hasattr(body, "set_value") else False
    if kind == "checkbox":
        state.bool_value = body.value if given else body.default
    elif kind in ("text_input", "text_area"):
        state.string_value = body.value if given else body.default
    elif kind == "number_input":
        if not (given or body.HasField("default")):
            return None
        value = body.value if given else body.default
        if body.data_type == body.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind in ("selectbox", "radio"):
        if not (given or body.HasField("default")):
            return None
        state.string_value = body.raw_value if given else body.options[body.default]
    elif kind == "button_group":
        chosen = body.raw_values if given else [body.options[k].content for k in body.default]
        state.string_array_value.data.extend(chosen)
    elif kind == "slider" and body.options:  # a select slider
        chosen = body.raw_value if given else [body.options[int(k)] for k in body.default]
        state.string_array_value.data.extend(chosen)
    elif kind == "slider":
        state.double_array_value.data.extend(body.value if given else body.default)
    else:
        return None
    return state


class Session:
    """One browser (one cookie jar, hence one identity) with one open page."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookies = CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.ws: Any = None
        self.page_hash = ""
        self.query = ""
        self.texts: list[str] = []  # every text drawn since the page was opened, in order
        self.widgets: dict[str, tuple[str, str, bool]] = {}  # label -> (id, fragment, disabled)
        self.states: dict[str, WidgetState] = {}  # id -> the value this browser holds
        self.typed: dict[str, WidgetState] = {}  # id -> the value this student set
        self.images: set[str] = set()
        self.timers: dict[str, asyncio.Task] = {}
        self.full_runs = 0  # full page runs finished on this connection
        self.changed = asyncio.Event()
        self.reader: asyncio.Task | None = None

    async def open(self, page: str, query: str = "") -> float:
        """Open (or reload) ``page`` with ``query``: a new connection and a page run; returns the
        seconds until the page's run has ended."""
        began = time.monotonic()
        await self.close()
        for path in (page, "_stcore/health"):  # the page's HTML (its scripts are cached), the
            await asyncio.to_thread(self.get, f"/{path}")  # health check that sets the cookie
        xsrf = next((c.value for c in self.cookies if c.name == "_streamlit_xsrf"), "")
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.cookies)
        self.ws = await websockets.connect(
            self.url.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=["streamlit", xsrf],
            additional_headers={"Cookie": cookie, "Origin": self.url},
            max_size=None,
            open_timeout=120,
        )
        self.texts, self.widgets, self.full_runs, self.query = [], {}, 0, query
        self.states, self.typed = {}, {}
        self.page_hash = ""  # the page is named by its URL path, as a browser opening a link
        self.reader = asyncio.create_task(self.read())
        await self.send(page_name=page)
        await self.wait(lambda: self.full_runs > 0)
        return time.monotonic() - began

    async def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(
        self,
        page_name: str = "",
        fragment: str = "",
        states: Sequence[WidgetState] = (),
        auto: bool = False,
    ) -> None:
        """Ask for a run: of the page ``page_name`` (a new page) or of ``fragment``, with every
        widget's value as this browser holds it, ``states`` first."""
        msg = BackMsg()
        client = msg.rerun_script
        client.query_string = self.query
        client.page_script_hash = self.page_hash
        client.page_name = page_name
        client.fragment_id = fragment
        client.is_auto_rerun = auto
        given = {state.id for state in states}
        client.widget_states.widgets.extend(states)
        client.widget_states.widgets.extend(
            state for key, state in self.states.items() if key not in given
        )
        await self.ws.send(msg.SerializeToString())

    async def click(self, label: str, **values: Any) -> None:
        """Click the button ``label``; ``values`` set other widgets by label in the same message
        (a form's fields with its submit button)."""
        button, fragment, _ = self.widgets[label]
        states = [WidgetState(id=button, trigger_value=True)]
        for name, value in values.items():
            state = WidgetState(id=self.widgets[name][0])
            if isinstance(value, str):
                state.string_value = value
            elif isinstance(value, int):
                state.int_value = value
            else:
                state.double_value = float(value)
            states.append(state)
            self.typed[state.id] = self.states[state.id] = state
        await self.send(fragment=fragment, states=states)

    async def wait(self, done: Any, timeout: float = 300.0) -> None:
        """Wait until ``done()`` holds, re-checked at each message."""
        deadline = time.monotonic() + timeout
        while not done():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.url}: timed out after {timeout} s")
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass

    def shows(self, pattern: str) -> bool:
        return any(re.search(pattern, text) for text in self.texts)

    async def read(self) -> None:
        async for data in self.ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session" and not msg.metadata.run.fragment_ids:  # a full run
                self.page_hash = msg.new_session.page_script_hash  # starts: so do the timers
                for timer in self.timers.values():
                    timer.cancel()
                self.timers.clear()
            elif kind == "delta":
                self.delta(msg.delta)
            elif kind == "auto_rerun":
                fragment, every = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
                if fragment in self.timers:
                    self.timers[fragment].cancel()
                self.timers[fragment] = asyncio.create_task(self.every(every, fragment))
            elif kind == "stop_auto_rerun":
                for fragment in msg.stop_auto_rerun.fragment_ids:
                    if fragment in self.timers:
                        self.timers.pop(fragment).cancel()
            elif kind == "script_finished" and msg.script_finished == FULL_RUN_DONE:
                self.full_runs += 1
            self.changed.set()

    def delta(self, delta: Any) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind is None:
            return
        body = getattr(element, kind)
        for field in ("body", "label", "text"):
            text = getattr(body, field, None)
            if isinstance(text, str) and text:
                self.texts.append(text)
        if getattr(body, "id", "") and getattr(body, "label", ""):
            self.widgets[body.label] = (body.id, delta.fragment_id, bool(body.disabled))
            state = wire_state(kind, body)
            if state is not None and getattr(body, "set_value", False):
                self.typed.pop(body.id, None)  # the script set it: the browser shows that
            if state is not None:
                self.states[body.id] = self.typed.get(body.id, state)
        if kind == "imgs":
            for image in body.imgs:
                if image.url.startswith("/") and image.url not in self.images:
                    self.images.add(image.url)
                    asyncio.get_running_loop().run_in_executor(None, self.fetch, image.url)

    def get(self, path: str) -> bytes:
        with self.http.open(self.url + path, timeout=120) as answer:
            return answer.read()

    def fetch(self, path: str) -> None:
        """An image, as a browser loads it once it is drawn."""
        try:
            self.get(path)
        except OSError:
            pass

    async def every(self, seconds: float, fragment: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.send(fragment=fragment, auto=True)
