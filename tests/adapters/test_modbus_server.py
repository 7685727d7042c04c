"""The pymodbus edge end to end: a pymodbus RTU server and client over real loopback sockets.

Timeouts here only keep a broken build from hanging; no test asserts on speed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from ml314.adapters.modbus_server import (
    Link,
    ModbusRtuPoller,
    ModbusRtuServer,
    parse_link,
    poll_battery,
    serve_registers,
)
from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import InputError, TransportError
from ml314.protocols import growatt_modbus as g
from ml314.protocols import modbus_rtu as mb
from ml314.protocols.examples import worked_example

CODEC = g.Codec()
GUARD_S = 30.0  # against hangs only


def run(make: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(make(), GUARD_S)

    asyncio.run(guarded())


def _assert_view_matches(view: BatteryView, status: BankStatus) -> None:
    expected = CODEC.decode_registers(CODEC.registers(status))
    assert view == expected
    assert view.voltage_v == pytest.approx(status.voltage_v, abs=0.005)
    assert view.current_a == pytest.approx(status.current_a, abs=0.005)
    assert view.soc_pct == status.soc_pct
    assert view.cvl_v == pytest.approx(status.limits.cvl_v, abs=0.005)
    assert view.ccl_a == pytest.approx(min(655.35, status.limits.ccl_a), abs=0.005)
    assert view.dcl_a == pytest.approx(min(655.35, status.limits.dcl_a), abs=0.005)
    assert view.full_capacity_ah == pytest.approx(min(655.35, status.full_capacity_ah), abs=0.005)
    assert view.protections == status.protections
    assert (view.charge_enable, view.discharge_enable) == (status.charge_enable, status.discharge_enable)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, *, resend_s: float | None = None
) -> bytes:
    """Send ``request`` and return the first complete response (resending it every ``resend_s`` if given)."""
    buf = bytearray()
    while True:
        writer.write(request)
        await writer.drain()
        try:
            while (frame := mb.take_response(buf)) is None:
                chunk = await asyncio.wait_for(reader.read(256), resend_s)
                assert chunk, "server closed the connection"
                buf += chunk
        except TimeoutError:
            continue
        return frame


def test_parse_link() -> None:
    assert parse_link("tcp://127.0.0.1:5020") == Link(tcp=("127.0.0.1", 5020))
    assert parse_link("/dev/ttyUSB0") == Link(serial="/dev/ttyUSB0")
    assert parse_link("socket://127.0.0.1:5020") == Link(serial="socket://127.0.0.1:5020")
    for bad in ("", "tcp://127.0.0.1", "tcp://:80", "tcp://host:notaport"):
        with pytest.raises(InputError):
            parse_link(bad)


def test_pymodbus_client_reads_what_the_status_says_over_tcp() -> None:
    statuses = [worked_example(1)]

    async def scenario() -> None:
        async with ModbusRtuServer(CODEC, lambda: statuses[-1], "tcp://127.0.0.1:0") as server:
            assert server.address is not None
            host, port = server.address
            assert port != 0
            async with ModbusRtuPoller(CODEC, f"tcp://{host}:{port}") as poller:
                _assert_view_matches(await poller.poll(), statuses[-1])
                # the registers follow the status at the moment of each read
                statuses.append(
                    replace(
                        worked_example(16),
                        soc_pct=12.0,
                        charge_enable=False,
                        protections=frozenset({AlarmKind.CELL_UNDERVOLTAGE}),
                    )
                )
                _assert_view_matches(await poller.poll(), statuses[-1])

    run(scenario)


def test_serial_url_server_and_client() -> None:
    status = worked_example(16)

    async def scenario() -> None:
        server = await serve_registers(CODEC, lambda: status, "socket://127.0.0.1:0")
        try:
            assert server.address is not None
            host, port = server.address
            view = await poll_battery(CODEC, f"socket://{host}:{port}")
            _assert_view_matches(view, status)
            assert view.full_capacity_ah == 655.35  # 5024 Ah clamped on the wire
        finally:
            await server.stop()

    run(scenario)


def test_server_bytes_equal_the_codec_bytes() -> None:
    status = worked_example(1)
    requests = [
        *CODEC.inverter_requests(),
        mb.build_read_request(1, 0x0070, 17),
        mb.build_read_request(1, 0x0001, 0x29),
        mb.build_read_request(1, 0x0000, 1),  # exception 02
        mb.build_read_request(1, 0x0029, 2),  # exception 02
        mb.build_write_request(1, 0x0030, [1]),  # exception 02
        mb.with_crc(bytes.fromhex("01 04 00 10 00 01")),  # exception 01
        mb.with_crc(bytes.fromhex("01 06 00 13 0C 00")),  # exception 01
    ]

    async def scenario() -> None:
        async with ModbusRtuServer(CODEC, lambda: status, "tcp://127.0.0.1:0") as server:
            assert server.address is not None
            reader, writer = await asyncio.open_connection(*server.address)
            try:
                for request in requests:
                    assert await _exchange(reader, writer, request) == CODEC.respond(request, status)
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario)


@pytest.mark.parametrize("foreign_slave", [2, 0])
def test_other_slaves_and_broadcasts_get_no_answer(foreign_slave: int) -> None:
    status = worked_example(1)
    ours = mb.build_read_request(1, 0x0015, 1)

    async def scenario() -> None:
        async with ModbusRtuServer(CODEC, lambda: status, "tcp://127.0.0.1:0") as server:
            assert server.address is not None
            reader, writer = await asyncio.open_connection(*server.address)
            try:
                writer.write(mb.build_read_request(foreign_slave, 0x0010, 26))
                await writer.drain()
                # Answers come in request order, so had the foreign request been answered, that answer would come
                # first. pymodbus' RTU framer takes one frame per received chunk and drops the rest (a bus master
                # waits for each answer), so our request is repeated until it is answered.
                assert await _exchange(reader, writer, ours, resend_s=0.5) == CODEC.respond(ours, status)
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario)


def test_refused_read_becomes_transport_error() -> None:
    class OutOfMap(g.Codec):
        def register_reads(self) -> tuple[tuple[int, int], ...]:
            return ((0x0000, 1),)

    async def scenario() -> None:
        async with ModbusRtuServer(CODEC, worked_example, "tcp://127.0.0.1:0") as server:
            assert server.address is not None
            host, port = server.address
            with pytest.raises(TransportError, match="exception 2"):
                await poll_battery(OutOfMap(), f"tcp://{host}:{port}")

    run(scenario)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_battery_is_a_transport_error() -> None:
    port = _closed_port()

    async def scenario() -> None:
        with pytest.raises(TransportError, match="cannot open"):
            await poll_battery(CODEC, f"tcp://127.0.0.1:{port}", timeout_s=2.0)

    run(scenario)


def test_unopenable_port_is_a_transport_error() -> None:
    async def scenario() -> None:
        with pytest.raises(TransportError, match="cannot serve"):
            await serve_registers(CODEC, worked_example, "/dev/ml314-no-such-port")
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            with pytest.raises(TransportError, match="cannot serve"):
                await serve_registers(CODEC, worked_example, f"tcp://127.0.0.1:{port}")

    run(scenario)
