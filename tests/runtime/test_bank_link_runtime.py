"""``ml314 run`` with several modules: the master and the others on a real serial line (pty null modem or TCP),
and a Pylon RS485 client that finds the bank as a Pylontech stack (master at ADR 2, the others at 3, 4, ...)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from ml314.adapters.serial_link import parse_rs485_spec
from ml314.bms.parameters import load_default_parameters
from ml314.domain.battery_status import AlarmKind
from ml314.protocols import pylon_ascii
from ml314.protocols.pylon_ascii import PylonFrame
from ml314.protocols.registry import resolve
from ml314.runtime.run import RunConfig, Runner

P = load_default_parameters()


def start(**kwargs: object) -> Runner:
    runner = Runner(RunConfig(params=P, **kwargs))  # type: ignore[arg-type]
    runner.start()
    return runner


def advance(runner: Runner, seconds: float) -> None:
    """Run the engine loop for ``seconds`` of wall time."""
    runner.config = runner.config.__class__(**{**runner.config.__dict__, "duration_s": seconds})
    runner.stop_event.clear()
    runner.run()


def advance_until(runner: Runner, condition: Callable[[], bool], limit_s: float = 60.0) -> bool:
    """Run the engine loop half a second at a time until ``condition`` (a guard against hanging, not a timing)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        advance(runner, 0.5)
        if condition():
            return True
    return condition()


@pytest.mark.parametrize("bank_link", ["pty", "tcp://127.0.0.1:0"])
def test_the_master_polls_the_others_over_a_real_serial_line(bank_link: str) -> None:
    runner = start(modules=3, bank_link=bank_link, can_protocol=None)
    try:
        live = runner.live
        assert live is not None and runner.master_loop is not None
        assert advance_until(runner, lambda: live.status.module_count == 3)
        assert len(runner.master_loop.master.online()) == 2
        assert [m.address for m in live.status.modules] == [1, 2, 3]
        assert runner.modules_side is not None and runner.modules_side.requests > 0
        assert "bank 3/3" in runner.status_line()
    finally:
        runner.close()


def test_two_modules_with_one_id_collide_on_the_wire() -> None:
    runner = start(modules=3, module_ids=(1, 2, 2), can_protocol=None)
    try:
        live = runner.live
        master_loop = runner.master_loop
        assert live is not None and master_loop is not None
        assert advance_until(runner, lambda: master_loop.master.cycles >= 3)  # the scan and two rounds are done
        assert live.status.module_count == 1
        assert AlarmKind.INTERNAL_COMMUNICATION in live.status.alarms
        assert any("two modules may share" in f for f in runner.master_loop.master.faults())
    finally:
        runner.close()


def ask(sock: socket.socket, adr: int, cid2: int, command: int) -> PylonFrame | None:
    sock.sendall(pylon_ascii.build(PylonFrame(0x20, adr, 0x46, cid2, bytes([command]))))
    buf = bytearray()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        buf += chunk
        frame = pylon_ascii.take_frame(buf)
        if frame is not None:
            return pylon_ascii.parse(frame)
    return None


def test_a_pylontech_stack_client_finds_every_module() -> None:
    runner = start(modules=3, rs485_protocol=resolve("pylon-rs485"), can_protocol=None, peer=False, **_tcp())
    try:
        assert runner.live is not None
        assert advance_until(runner, lambda: runner.live.status.module_count == 3)  # type: ignore[union-attr]
        assert runner.listener is not None
        with socket.create_connection(runner.listener.address, timeout=2.0) as sock:
            for adr in (2, 3, 4):
                for cid2 in (0x42, 0x44, 0x92, 0x93):
                    answer = ask(sock, adr, cid2, adr)
                    assert answer is not None and answer.rtn == 0, (adr, hex(cid2))
                    assert answer.adr == adr
            assert ask(sock, 5, 0x42, 5) is None  # no fourth pack
            everyone = ask(sock, 2, 0x42, 0xFF)
            assert everyone is not None and everyone.info[1] == 3  # INFOFLAG, then the number of packs
    finally:
        runner.close()


def _tcp() -> dict[str, object]:
    return {"rs485": parse_rs485_spec("tcp://127.0.0.1:0")}
