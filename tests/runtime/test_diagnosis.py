"""Manual 12.2 #1 on real links: the diagnosis job of ``ml314 run`` on a Runner whose inverter side is silent,
speaks another protocol, or whose RS485 device goes away. Each waits for the link's own condition (the keep-alive
watch's 5 s, the frames heard), never a fixed sleep."""

from __future__ import annotations

import itertools
import socket
from dataclasses import replace

from ml314.adapters.can_link import CanSpec, open_bus
from ml314.adapters.serial_link import parse_rs485_spec
from ml314.bms.parameters import load_default_parameters
from ml314.protocols import pylon_ascii
from ml314.protocols.base import CanCodec, Rs485Codec
from ml314.protocols.keepalive import LinkState
from ml314.protocols.pylon_rs485_blocks import MASTER_ADR
from ml314.protocols.registry import create, resolve
from ml314.runtime.can_links import CanInverterPeer
from ml314.runtime.diagnosis import DiagnosisJob, report_of
from ml314.runtime.run import RunConfig, Runner
from tests.runtime.test_can_links import wait_for

_CHANNELS = itertools.count()


def _runner(**kw: object) -> Runner:
    config = RunConfig(params=load_default_parameters(), http="off", db="off", **kw)  # type: ignore[arg-type]
    runner = Runner(config, echo=lambda line: None)
    runner.start()
    return runner


def _can_runner() -> tuple[Runner, CanSpec]:
    spec = CanSpec("virtual", f"diagnosis-{next(_CHANNELS)}")
    return _runner(can_protocol=resolve("pylon-can"), can=spec, peer=False), spec


def test_an_inverter_that_sends_no_keepalive_is_a_communication_failure() -> None:
    runner, _ = _can_runner()
    try:
        job = DiagnosisJob(runner)
        assert not [f for f in job.run_once() if f.code == "no_keepalive"]  # just started: not yet
        link = runner.can_battery
        assert link is not None
        assert wait_for(lambda: link.link_state() is not LinkState.OK)
        found = {f.code: f for f in job.run_once()}
        f = found["no_keepalive"]
        assert f.where.startswith("CAN P14-PYL") and f.manual.ref == "Table 12-2 #1"
        assert f.manual.solution == "Refer 8.4.2" and "wrong_protocol" not in found
        doc = report_of(job.findings, job.t_s)
        assert doc["problem"] and doc["findings"][0]["steps"]
    finally:
        runner.close()


def test_an_inverter_speaking_another_protocol_is_named_as_such() -> None:
    runner, spec = _can_runner()
    growatt = create(resolve("growatt-can"))  # a Growatt inverter on a battery set to P14 (Pylon)
    assert isinstance(growatt, CanCodec)
    peer = CanInverterPeer(growatt, open_bus(spec, growatt.info.bitrate))
    peer.start()
    try:
        job = DiagnosisJob(runner)
        link = runner.can_battery
        assert link is not None
        assert wait_for(lambda: link.health_snapshot().frames_in >= 5)
        found = {f.code: f for f in job.run_once()}
        f = found["wrong_protocol"]
        assert "no_keepalive" not in found
        heard = next(e for e in f.evidence if e.what == "frames heard on the port")
        assert int(heard.value) >= 5
        assert any(step.startswith("Check that the protocol selected") for step in f.manual.steps)
    finally:
        peer.close()
        runner.close()


def test_an_rs485_device_that_goes_away_is_a_port_connect_error() -> None:
    gateway = socket.create_server(("127.0.0.1", 0))  # a serial-over-TCP gateway the battery's port is on
    host, port = gateway.getsockname()[:2]
    runner = _runner(rs485_protocol=resolve("pylon-rs485"), rs485=parse_rs485_spec(f"socket://{host}:{port}"),
                     peer=False)  # fmt: skip
    try:
        first, _ = gateway.accept()
        first.close()
        gateway.close()  # and stays away
        server = runner.rs485_server
        assert server is not None
        assert wait_for(lambda: server.health_snapshot().lost)
        found = {f.code: f for f in DiagnosisJob(runner).run_once()}
        f = found["port_lost"]
        assert f.manual.analysis == "Communication port connect error or battery ID setting error"
    finally:
        runner.close()


def test_a_failing_diagnosis_is_reported_once_and_never_ends_the_run_loop() -> None:
    lines: list[str] = []
    config = RunConfig(params=load_default_parameters(), http="off", db="off")
    runner = Runner(config, echo=lines.append)
    runner.start()
    try:
        job = DiagnosisJob(runner, every_s=0.0)

        def broken() -> tuple[()]:
            raise RuntimeError("a rule's bug")

        job.run_once = broken  # type: ignore[method-assign]
        job.on_tick()
        job.on_tick()
        assert lines == ["ml314: warning: diagnostics failed (RuntimeError: a rule's bug); the bank runs on"]
    finally:
        runner.close()


def test_an_inverter_polling_an_id_the_bank_lacks_is_an_id_setting_error() -> None:
    # a bank of one module (ID 1, Pylon address 2) polled at Pylon address 6 (ID 5): frames of the right protocol,
    # none for this bank, so none is answered
    runner = _runner(rs485_protocol=resolve("pylon-rs485"), rs485=parse_rs485_spec("tcp://127.0.0.1:0"), peer=False)
    try:
        assert runner.listener is not None
        codec = create(resolve("pylon-rs485"))
        assert isinstance(codec, Rs485Codec)
        request = pylon_ascii.parse(codec.inverter_requests()[0])
        other = pylon_ascii.build(replace(request, adr=MASTER_ADR + 4, info=bytes([MASTER_ADR + 4])))
        with socket.create_connection(runner.listener.address, timeout=30.0) as inverter:
            server = runner.rs485_server
            assert server is not None
            for _ in range(6):
                inverter.sendall(other)
            assert wait_for(lambda: server.health_snapshot().frames_in >= 6)
            found = {f.code: f for f in DiagnosisJob(runner).run_once()}
        f = found["inverter_address"]
        assert "no_keepalive" not in found and "wrong_protocol" not in found
        assert f.manual.analysis == "Communication port connect error or battery ID setting error"
    finally:
        runner.close()
