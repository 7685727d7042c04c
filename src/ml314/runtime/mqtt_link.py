"""``ml314 run --mqtt URL``: the device's link to an MQTT broker (a fleet's cloud broker, or Home Assistant's).

One thread of its own runs an asyncio loop with two independent parts:

* the **sampler** takes the surface's latest view every ``interval`` (wall clock) and stores a telemetry sample
  and any new BMS events in the disk buffer (``cloud/outbox.py``), connected or not. It only reads the immutable
  :class:`~ml314.runtime.surface.LiveView` the run loop publishes, so nothing here can block the engine.
* the **session** connects (MQTT v5, the device's own credential, the will ``offline`` retained on its status
  topic), says ``online``, publishes Home Assistant discovery and the protocol selection, then sends the buffer
  oldest first (each row deleted at its PUBACK), publishes the live state for Home Assistant at every sample and
  answers commands. When the broker goes away the session ends, the buffer keeps growing, and the link connects
  again (1 s, doubling to 30 s between tries); the backlog then goes out with its original ``seq`` and ``ts``.

Commands (``ml314/<serial>/cmd/<name>``, never retained ones) run on a worker thread, since the PIN check hashes:
``pin`` opens the protocol selection for one change within ``UNLOCK_S`` seconds; ``can_protocol`` and
``rs485_protocol`` take a protocol name (after ``pin``) or ``{"protocol": NAME, "pin": PIN}``. Every command is
answered on ``ml314/<serial>/result``; a refusal says why (``pin_required``, ``pin_wrong``, ``pin_locked`` ...).
``network`` (``{"mode": "ap"}`` or ``{"mode": "sta", "ssid", "password"}``) switches the device's network mode
(``runtime/network.py``); the broker's ACL is its authorisation (only the cloud and Home Assistant may command).

The network mode decides whether the link connects at all: in AP mode the device has no way to the cloud, so an
open session says ``offline`` and ends (after answering the command that asked for it), and the link waits, still
buffering every sample on disk, until the device is back in Wi-Fi mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import aiomqtt

from ml314.cloud.discovery import UNLOCK_S, diagnostics_state, discovery_messages
from ml314.cloud.mqtt_url import MqttTarget
from ml314.cloud.outbox import OUTBOX_FILE, Outbox
from ml314.cloud.telemetry import bank_state, event_payload, module_state, sample_payload
from ml314.cloud.topics import DeviceTopics, ha_status_topic
from ml314.domain.network import NetworkMode
from ml314.runtime.network import DeviceNetwork, parse_change
from ml314.runtime.surface import LiveView, NotReadyError, Surface, SurfaceError
from ml314.storage.mqtt_credential import MqttCredential

__all__ = ["MqttLink"]

_BATCH = 100  # buffered rows in flight at once
_MAX_BACKOFF_S = 30.0
_TIMEOUT_S = 30.0  # an operation the broker does not confirm by then ends the session


class _StopRequestedError(Exception):
    """The link was asked to stop (ends the session's task group)."""


class _NetworkDownError(Exception):
    """The device left the network the link runs on (AP mode): the session ends, the link waits."""


def _result(command: str, ok: bool, code: str, message: str) -> dict[str, Any]:
    return {"command": command, "ok": ok, "code": code, "message": message, "ts": round(time.time(), 3)}


class MqttLink:
    """The link of one device (``serial``) to ``target``; :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        target: MqttTarget,
        surface: Surface,
        data_dir: Path,
        serial: str,
        *,
        echo: Callable[[str], None] = print,
        network: DeviceNetwork | None = None,
    ) -> None:
        self.target = target
        self.network = network
        self.surface = surface
        self.topics = DeviceTopics(serial)
        self.serial = serial
        self.echo = echo
        self.outbox_path = Path(data_dir) / OUTBOX_FILE
        if target.username is not None:
            self.username, self.password = target.username, target.password
        else:
            credential = MqttCredential.open(Path(data_dir), serial)
            self.username, self.password = credential.username, credential.password
        self.sent = 0  # buffered rows the broker acknowledged
        self.waiting = 0  # rows left in the buffer at stop
        self.sampled = 0
        self.connected = False
        self.connections = 0
        self._outbox: Outbox | None = None
        self._thread = threading.Thread(target=self._thread_main, name="mqtt", daemon=True)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_async: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._latest: LiveView | None = None
        self._sampled_seq = -1
        self._unlock: tuple[str, float] | None = None
        self._outage_reported = False
        #: chapter 12's findings (runtime/diagnosis.py report), published in the state topic for HA's problem sensor
        self.diagnostics: Callable[[], dict[str, Any]] | None = None
        self._up = threading.Event()  # the device's network mode lets the link connect
        self._up.set()
        self._up_async: asyncio.Event | None = None
        self._down_async: asyncio.Event | None = None
        self._answering: asyncio.Lock | None = None
        if network is not None:
            network.subscribe(self._on_mode)

    def _on_mode(self, mode: NetworkMode) -> None:
        """The network mode changed (any thread): connect in Wi-Fi/host mode, go offline in AP mode."""
        with self._lock:
            if mode.cloud:
                self._up.set()
            else:
                self._up.clear()
            loop, up, down = self._loop, self._up_async, self._down_async
        if loop is not None and up is not None and down is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._sync_up, up, down)

    def _sync_up(self, up: asyncio.Event, down: asyncio.Event) -> None:
        if self._up.is_set():
            down.clear()
            up.set()
        else:
            up.clear()
            down.set()

    def state(self) -> dict[str, Any]:
        """The cloud link as the app shows it."""
        return {
            "configured": True,
            "connected": self.connected,
            "where": self.target.where,
            "waiting_for_network": not self._up.is_set(),
        }

    def describe(self) -> str:
        what = f"telemetry every {self.target.interval_s:g} s"
        if self.target.discovery_prefix is not None:
            what += f", Home Assistant discovery under {self.target.discovery_prefix}/"
        return (
            f"mqtt: {self.target.where} as {self.username} ({what}); buffered in {self.outbox_path} while the "
            "broker is unreachable"
        )

    # ------------------------------------------------------------------------------------------ thread control
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """End the link: say ``offline`` if connected, close the buffer, join the thread."""
        with self._lock:
            self._stop.set()
            loop, event = self._loop, self._stop_async
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            self.echo(
                f"mqtt: {self.sent} messages sent this run; {self.waiting} waiting in {self.outbox_path.name} for the "
                "next connection"
            )

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the link must never take the bank down
            self.echo(f"ml314: warning: the MQTT link stopped: {exc}")

    async def _main(self) -> None:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stop_async = stop = asyncio.Event()
            if self._stop.is_set():
                stop.set()
            self._up_async, self._down_async = asyncio.Event(), asyncio.Event()
            self._sync_up(self._up_async, self._down_async)
        self._answering = asyncio.Lock()
        self._wake = asyncio.Event()
        self._outbox = Outbox(self.outbox_path, max_samples=self.target.buffer_samples)
        sampler = asyncio.create_task(self._sample_loop())
        backoff = 1.0
        try:
            while not stop.is_set():
                if not self._up.is_set():  # AP mode: no way to the cloud; wait for Wi-Fi mode (or the stop)
                    assert self._up_async is not None
                    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._up_async.wait())]
                    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for task in pending:
                        task.cancel()
                    backoff = 1.0
                    continue
                try:
                    await self._session()
                    backoff = 1.0
                except* (aiomqtt.MqttError, OSError) as group:
                    self._report_outage(str(group.exceptions[0]))
                except* Exception as group:  # a fault of ours: say so, keep buffering, try again
                    self.echo(f"ml314: warning: the MQTT session failed: {group.exceptions[0]!r}")
                if stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2.0, _MAX_BACKOFF_S)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self._take_sample()  # the last view before stopping is kept too
            self.waiting = self._outbox.count()
            self._outbox.close()

    def _report_outage(self, why: str) -> None:
        if not self._outage_reported:
            self._outage_reported = True
            waiting = 0 if self._outbox is None else self._outbox.count()
            self.echo(
                f"mqtt: no connection to {self.target.where} ({why}); buffering on disk ({waiting} waiting), retrying"
            )

    # ---------------------------------------------------------------------------------------------- sampling
    async def _sample_loop(self) -> None:
        interval = self.target.interval_s
        due = time.monotonic()
        failed = ""
        while True:
            try:
                self._take_sample()
                failed = ""
            except Exception as exc:  # e.g. a full disk: said once, the bank goes on, the next sample tries again
                if str(exc) != failed:
                    failed = str(exc)
                    self.echo(f"ml314: warning: a telemetry sample was not stored: {exc}")
            due += interval
            delay = due - time.monotonic()
            if delay < 0.0:  # behind (a slow disk): the next sample now, the schedule from here
                due, delay = time.monotonic(), 0.0
            await asyncio.sleep(delay)

    def _take_sample(self) -> None:
        """Store a sample of the latest view (unless the run loop has not ticked since) and its new events."""
        outbox = self._outbox
        try:
            view = self.surface.view()
        except NotReadyError:
            return
        if outbox is None or view.seq == self._sampled_seq:
            return
        self._sampled_seq = view.seq
        modules = [(p.module_id, m) for p, m in zip(view.panels, view.modules, strict=True)]
        outbox.add_sample(
            self.topics.telemetry,
            lambda seq: sample_payload(self.serial, seq, ts=view.wall_s, t_s=view.t_s, bank=view.bank, modules=modules),
        )
        self.sampled += 1
        last = outbox.last_event_id
        newest = view.first_event_id + len(view.events) - 1
        if newest < last:  # the log started over (a new bank): its ids count from 0 again
            outbox.new_event_epoch()
            last = -1
        if newest > last:
            epoch = outbox.event_epoch
            for i, event in enumerate(view.events):
                event_id = view.first_event_id + i
                if event_id > last:
                    body = event_payload(self.serial, event_id, view.wall_s, event, epoch=epoch)
                    outbox.add_event(self.topics.events, event_id, body)
        self._latest = view
        if self._wake is not None:
            self._wake.set()

    # ----------------------------------------------------------------------------------------------- session
    def _tls(self) -> ssl.SSLContext | None:
        if not self.target.tls:
            return None
        return ssl.create_default_context(cafile=None if self.target.ca is None else str(self.target.ca))

    async def _session(self) -> None:
        t = self.topics
        assert self._outbox is not None and self._stop_async is not None
        client = aiomqtt.Client(
            self.target.host,
            self.target.port,
            username=self.username,
            password=self.password,
            identifier=self.serial,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(t.status, b"offline", qos=1, retain=True),
            keepalive=self.target.keepalive_s,
            tls_context=self._tls(),
            timeout=_TIMEOUT_S,
        )
        client.pending_calls_threshold = 1_000_000  # a backlog and the discovery configs are many calls, on purpose
        async with client:
            self.connected = True
            self.connections += 1
            self._outage_reported = False
            self.echo(f"mqtt: connected to {self.target.where} ({self._outbox.count()} buffered to send)")
            try:
                await client.publish(t.status, b"online", qos=1, retain=True)
                await client.subscribe(t.commands, qos=1)
                if self.target.discovery_prefix is not None:
                    await client.subscribe(ha_status_topic(self.target.discovery_prefix), qos=1)
                    await self._publish_discovery(client)
                await self._publish_protocols(client)
                await self._publish_live(client)
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._send(client))
                    group.create_task(self._listen(client))
                    group.create_task(self._live_loop(client))
                    group.create_task(self._until_stopped())
                    group.create_task(self._until_down())
            except* _StopRequestedError:
                await client.publish(t.status, b"offline", qos=1, retain=True)  # a clean goodbye sends no will
            except* _NetworkDownError:
                await client.publish(t.status, b"offline", qos=1, retain=True)
                self.echo(f"mqtt: disconnected from {self.target.where}: the device is in AP mode (buffering)")
            finally:
                self.connected = False
                self._outbox.release()

    async def _until_stopped(self) -> None:
        assert self._stop_async is not None
        await self._stop_async.wait()
        raise _StopRequestedError

    async def _until_down(self) -> None:
        assert self._down_async is not None and self._answering is not None
        await self._down_async.wait()
        async with self._answering:  # the command that switched the mode is answered first
            raise _NetworkDownError

    async def _send(self, client: aiomqtt.Client) -> None:
        """The buffer, oldest first, each row deleted once the broker acknowledged it."""
        outbox, wake = self._outbox, self._wake
        assert outbox is not None and wake is not None
        while True:
            rows = outbox.pending(_BATCH)
            if not rows:
                wake.clear()
                rows = outbox.pending(_BATCH)
                if not rows:
                    await wake.wait()
                    continue
            results = await asyncio.gather(
                *(client.publish(topic, payload, qos=1) for _, topic, payload in rows), return_exceptions=True
            )
            acked = [row[0] for row, res in zip(rows, results, strict=True) if not isinstance(res, BaseException)]
            outbox.remove(acked)
            self.sent += len(acked)
            for res in results:
                if isinstance(res, BaseException):
                    raise res

    async def _live_loop(self, client: aiomqtt.Client) -> None:
        """The live state for Home Assistant, at every new sample."""
        shown = -1
        while True:
            view = self._latest
            if view is not None and view.seq != shown:
                shown = view.seq
                await self._publish_live(client)
            await asyncio.sleep(self.target.interval_s)

    async def _publish_live(self, client: aiomqtt.Client) -> None:
        view = self._latest
        if view is None:
            return
        t = self.topics
        state = bank_state(view.bank)
        if self.diagnostics is not None:
            state["diagnostics"] = diagnostics_state(self.diagnostics())
        await client.publish(t.state, json.dumps(state), qos=0, retain=True)
        for i, (panel, module) in enumerate(zip(view.panels, view.modules, strict=True)):
            body = json.dumps(module_state(i + 1, panel.module_id, module))
            await client.publish(t.module_state(i + 1), body, qos=0, retain=True)

    async def _publish_discovery(self, client: aiomqtt.Client) -> None:
        prefix = self.target.discovery_prefix
        if prefix is None:
            return
        view = self.surface.view()
        modules = [(i + 1, m.serial) for i, m in enumerate(view.modules)]
        messages = discovery_messages(self.serial, prefix, modules)
        await asyncio.gather(*(client.publish(topic, json.dumps(c), qos=1, retain=True) for topic, c in messages))

    async def _publish_protocols(self, client: aiomqtt.Client) -> None:
        selection = await asyncio.to_thread(self.surface.protocols)
        body = json.dumps({"can": selection.can.name, "rs485": selection.rs485.name})
        await client.publish(self.topics.protocols, body, qos=1, retain=True)

    # ---------------------------------------------------------------------------------------------- commands
    async def _listen(self, client: aiomqtt.Client) -> None:
        t = self.topics
        ha_status = None if self.target.discovery_prefix is None else ha_status_topic(self.target.discovery_prefix)
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if topic == ha_status:
                if payload == b"online":  # Home Assistant (re)started: discovery and state again
                    await self._publish_discovery(client)
                    await self._publish_live(client)
                continue
            name = topic.removeprefix(f"{t.base}/cmd/")
            assert self._answering is not None
            async with self._answering:  # a network change takes effect once its answer is out
                if message.retain:
                    result = _result(name, False, "retained", "retained commands are ignored: publish without retain")
                else:
                    handler = self._COMMANDS.get(name)
                    if handler is None:
                        known = ", ".join(self._COMMANDS)
                        result = _result(name, False, "unknown_command", f"no command {name!r} (one of {known})")
                    else:
                        result = await asyncio.to_thread(handler, self, payload)
                await client.publish(t.result, json.dumps(result), qos=1)
            if name.endswith("_protocol"):
                await self._publish_protocols(client)  # a refused change snaps the select back

    def _cmd_pin(self, payload: bytes) -> dict[str, Any]:
        try:
            self.surface.grant(payload.decode(errors="replace").strip())
        except SurfaceError as exc:
            return _result("pin", False, exc.code, str(exc))
        self._unlock = (payload.decode().strip(), time.monotonic() + UNLOCK_S)
        return _result("pin", True, "unlocked", f"PIN accepted: one protocol change within {UNLOCK_S:.0f} s")

    def _cmd_protocol(self, port: str, payload: bytes) -> dict[str, Any]:
        command = f"{port}_protocol"
        text = payload.decode(errors="replace").strip()
        pin: str | None = None
        if text.startswith("{"):
            try:
                doc = json.loads(text)
                name, pin = str(doc["protocol"]), (None if doc.get("pin") is None else str(doc["pin"]))
            except (ValueError, KeyError, TypeError):
                return _result(command, False, "bad_request", 'expected NAME or {"protocol": NAME, "pin": PIN}')
        else:
            name = text
        if pin is None:
            unlock, self._unlock = self._unlock, None  # one change per PIN entry
            if unlock is None or time.monotonic() > unlock[1]:
                return _result(
                    command,
                    False,
                    "pin_required",
                    "changing the protocol needs the technician PIN: enter it in 'Technician PIN' first",
                )
            pin = unlock[0]
        try:
            change = self.surface.set_protocols(pin, *((name, None) if port == "can" else (None, name)))
        except SurfaceError as exc:
            return _result(command, False, exc.code, str(exc))
        chosen = change.can if port == "can" else change.rs485
        return _result(command, True, "saved", f"{port.upper()} protocol {chosen.name}: takes effect at the next start")

    def _cmd_network(self, payload: bytes) -> dict[str, Any]:
        if self.network is None:
            return _result("network", False, "unsupported", "this run has no network settings")
        try:
            change = parse_change(json.loads(payload.decode(errors="replace")))
            status = self.network.change(change, via="by MQTT (cmd/network)")
        except ValueError:
            return _result("network", False, "bad_request", 'expected {"mode": "ap"} or {"mode": "sta", ...}')
        except SurfaceError as exc:
            return _result("network", False, exc.code, str(exc))
        return _result(
            "network",
            True,
            "switched",
            f"{status['mode_label']}: "
            + (f"joining {status['ssid']!r}" if status["mode"] == "sta" else f"the AP {status['ap_ssid']} is on"),
        )

    _COMMANDS: ClassVar[dict[str, Callable[[MqttLink, bytes], dict[str, Any]]]] = {
        "pin": _cmd_pin,
        "network": _cmd_network,
        "can_protocol": lambda self, payload: self._cmd_protocol("can", payload),
        "rs485_protocol": lambda self, payload: self._cmd_protocol("rs485", payload),
    }
