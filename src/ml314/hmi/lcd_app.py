"""``ml314 lcd``: the module's LCD in the terminal (Textual), drawn from :mod:`ml314.hmi.lcd` as the browser draws it.

The app polls a running ``ml314 run`` once a second (:class:`~ml314.hmi.lcd_client.LcdClient`), renders the page
model's :class:`~ml314.hmi.lcd.LcdScreen`, and turns keys and clicks into :func:`~ml314.hmi.lcd.step` inputs. A
pending protocol change goes to ``PUT /api/protocols``; the device's answer is fed back into the model.

Keys: the buttons are clickable; digits type the PIN, Enter is "√", Backspace deletes, Escape or ``b`` is "Back", ``s``
Settings, ``v`` Voltage, ``t`` Temperature, ``c`` CAN, ``r`` RS485, Up/Down page through the protocols, ``q``
quits. On a dimmed screen any key or click only wakes it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.widgets import Button, Static

from ml314.errors import Ml314Error
from ml314.hmi.lcd import TOUCH, LcdRow, LcdScreen, LcdState, ProtocolReply, ProtocolRequest, step
from ml314.hmi.lcd_client import LcdClient, LcdData

__all__ = ["KEYS", "LcdApp"]

#: terminal key -> LCD key
KEYS: dict[str, str] = {
    **{str(d): str(d) for d in range(10)},
    "enter": "ok",
    "backspace": "del",
    "escape": "back",
    "b": "back",
    "s": "settings",
    "v": "voltage",
    "t": "temperature",
    "c": "can",
    "r": "rs485",
    "up": "up",
    "down": "down",
    "pageup": "up",
    "pagedown": "down",
}

_OFF = "the module is off (its BMS is shut down): the LCD is dark"
_MARK_STYLE = {"max": "bold red", "min": "bold cyan", "alarm": "bold red", "running": "green", "next start": "yellow"}


def _table(rows: tuple[LcdRow, ...]) -> Table:
    """The rows as a table; long lists (the 16 cells) in two column pairs."""
    pairs = 2 if len(rows) > 10 else 1
    table = Table.grid(padding=(0, 2))
    for _ in range(pairs):
        table.add_column(style="dim")
        table.add_column()
    half = (len(rows) + pairs - 1) // pairs
    for i in range(half):
        cells: list[Text | str] = []
        for col in range(pairs):
            j = i + col * half
            if j < len(rows):
                r = rows[j]
                mark = f" ({r.mark})" if r.mark in ("max", "min") else ""
                cells += [r.label, Text(r.value + mark, style=_MARK_STYLE.get(r.mark, ""))]
        table.add_row(*cells)
    return table


class LcdApp(App[None]):
    """The LCD of module ``module_id`` of the ``ml314 run`` behind ``client``; ``clock`` gives wall-clock seconds."""

    CSS = """
    Screen { align: center middle; }
    #lcd { width: 76; height: auto; border: round $accent; padding: 0 1; }
    #lcd.dimmed { opacity: 40%; border: round $panel; }
    #title { text-style: bold; width: 100%; content-align: center middle; }
    #notice { color: $warning; height: auto; }
    #link { color: $error; height: auto; }
    #buttons { grid-size: 4; grid-gutter: 0 1; height: auto; }
    #buttons Button { width: 100%; min-width: 8; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "quit")]

    def __init__(
        self,
        client: LcdClient,
        module_id: int = 1,
        *,
        clock: Callable[[], float] = time.time,
        poll_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.poll_s = poll_s
        self.lcd_state = LcdState(module_id=module_id)
        self.data = LcdData(None, None, False, None)
        self.lcd_screen: LcdScreen = self._render()
        self.link_error = ""
        self.polls = 0
        self.replies: list[ProtocolReply] = []
        self._sent_seq = 0
        self._buttons_shown: tuple[tuple[str, str, bool], ...] = ()
        offset = dt.datetime.now().astimezone().utcoffset()
        self._utc_offset_s = offset.total_seconds() if offset else 0.0

    def compose(self) -> ComposeResult:
        with Vertical(id="lcd"):
            yield Static(id="title")
            yield Static(id="rows")
            yield Static(id="notice")
            yield Static(id="link")
            yield Grid(id="buttons")

    async def on_mount(self) -> None:
        self.title = f"ml314 lcd - module {self.lcd_state.module_id} - {self.client.url}"
        await self._poll()
        self.set_interval(self.poll_s, self._poll)

    async def on_unmount(self) -> None:
        await self.client.close()

    # ---------------------------------------------------------------------------------------------- inputs
    async def press(self, key: str) -> None:
        """One LCD input (a button's key, a digit, or a touch), as a finger on the glass gives it."""
        if self.lcd_screen.dimmed:
            key = TOUCH
        self.lcd_state, _ = step(self.lcd_state, key, self.clock())
        await self._redraw()

    async def on_key(self, event: events.Key) -> None:
        if event.key == "q":
            return
        key = KEYS.get(event.key)
        if key is not None or self.lcd_screen.dimmed:
            event.stop()
            await self.press(key or TOUCH)

    async def on_click(self, event: events.Click) -> None:
        if self.lcd_screen.dimmed:
            await self.press(TOUCH)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.name:
            await self.press(event.button.name)

    # --------------------------------------------------------------------------------------------- device
    async def _poll(self) -> None:
        try:
            self.data = await self.client.fetch(self.lcd_state.module_id)
            self.link_error = ""
        except Ml314Error as exc:
            self.data = replace(self.data, online=False)
            self.link_error = str(exc)
        self.polls += 1
        await self._redraw()

    async def _send(self, request: ProtocolRequest) -> None:
        reply = await self.client.change_protocol(request)
        self.replies.append(reply)
        self.lcd_state, _ = step(self.lcd_state, reply, self.clock())
        await self._redraw()

    # ------------------------------------------------------------------------------------------------ draw
    def _render(self) -> LcdScreen:
        return self.data.screen(self.lcd_state, self.clock(), getattr(self, "_utc_offset_s", 0.0))

    async def _redraw(self) -> None:
        s = self.lcd_screen = self._render()
        if s.action is not None and s.action.seq > self._sent_seq:
            self._sent_seq = s.action.seq
            self.run_worker(self._send(s.action), exclusive=False)
        lcd = self.query_one("#lcd", Vertical)
        lcd.set_class(s.dimmed, "dimmed")
        self.query_one("#title", Static).update(f"ML314 #{s.module_id}  {s.title}")
        self.query_one("#rows", Static).update(_table(s.rows))
        extra = "[restart required]" if s.restart_required and "restart" not in s.notice else ""
        notice = (
            "the module is off (its BMS is shut down): the LCD is dark" if s.off else f"{s.notice}  {extra}".strip()
        )
        self.query_one("#notice", Static).update(Text(notice))
        self.query_one("#link", Static).update(Text(f"link: {self.link_error}" if self.link_error else ""))
        shown = tuple((b.key, b.label, b.enabled) for b in s.buttons)
        if shown != self._buttons_shown:
            self._buttons_shown = shown
            grid = self.query_one("#buttons", Grid)
            await grid.remove_children()
            widgets = []
            for key, label, enabled in shown:
                button = Button(label, name=key, disabled=not enabled, compact=True)
                button.can_focus = False  # keys go to the LCD, not to a focused button
                widgets.append(button)
            await grid.mount(*widgets)
