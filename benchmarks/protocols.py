"""Protocol timing and codec speed, measured on the real links of ``ml314 run``.

* RS485 request-to-response latency over TCP loopback: the battery server and the inverter peer of
  ``runtime/rs485_links.py`` (pyserial ``socket://`` client, 16-module bank, the peer's own polling cycle,
  Pylon's 0x42 for all 16 packs is 2 KB), and for Growatt the pymodbus client. Target p99 <= 20 ms. Loopback has
  no line rate: these rows say what the battery's software adds, not what an inverter on a serial pair sees.
* RS485 latency as an inverter on a serial line sees it: the same battery server on one end of a pty null modem
  (the project's ``PtyNullModem``), the inverter on the other, both ends paced at 9600 and 115200 baud by the bank
  link's ``PacedStream`` (8N1, 10 bits a character). One row per request of the inverter's poll: the time from
  its first request byte to the last answer byte, beside the wire time of both frames; ``over_wire`` is the
  difference (the target: <= 20 ms at p99). A client's 200 ms response timeout is shorter than some answers'
  wire time at 9600 baud (Pylon 0x42 for 16 modules).
* CAN cycle period: the Pylon battery link on python-can's virtual bus for 2 minutes of real time (20 s with
  ``--quick``); the period between consecutive 0x351 frames as a listener receives them. Target p99 within
  +/- 10 ms of 1 s (reported as the deviation from 1000 ms).
* Encode and decode time per frame for every implemented protocol (compatibility rows run the same codecs):
  CAN = the battery's frames of one period and their decoding; RS485 = one response per request of the peer's
  polling cycle and its decoding. p50/p99 over batches of calls.

    python benchmarks/protocols.py [--quick] [--json PATH]
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _common import finish, parse_args
from ml314.adapters.can_link import open_bus, parse_can_spec
from ml314.adapters.serial_link import PtyNullModem, TcpListener, open_serial
from ml314.domain.battery_status import BatteryView
from ml314.protocols.base import CanCodec, Rs485Codec
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import PROTOCOLS, create, resolve
from ml314.runtime.bank_link_runtime import PacedStream
from ml314.runtime.can_links import CanBatteryLink
from ml314.runtime.modbus_links import ModbusBatteryService, ModbusInverterPeer
from ml314.runtime.rs485_links import Rs485BatteryServer, Rs485InverterPeer
from ml314.system.bank_link import wire_time_s

NAME = "protocols"
COLUMNS = ("metric", "p50", "p99", "unit", "samples", "wire_ms", "over_wire_p99", "target")
STATUS = worked_example(16)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def row(metric: str, values: list[float], unit: str, target: str = "") -> dict[str, Any]:
    return {
        "metric": metric,
        "p50": pct(values, 50),
        "p99": pct(values, 99),
        "unit": unit,
        "samples": len(values),
        "target": target,
    }


def rs485_latency(name: str, cycles: int) -> dict[str, Any]:
    codec = create(resolve(name))
    assert isinstance(codec, Rs485Codec)
    listener = TcpListener("127.0.0.1", 0)
    server = Rs485BatteryServer(codec, lambda: STATUS)
    server.serve_listener(listener)
    host, port = listener.address
    peer_codec = create(resolve(name))
    assert isinstance(peer_codec, Rs485Codec)
    peer = Rs485InverterPeer(peer_codec, open_serial(f"socket://{host}:{port}", peer_codec.info.baud))
    try:
        for _ in range(5):
            peer.poll_once()
        peer.latencies_s.clear()
        for _ in range(cycles):
            peer.poll_once()
        assert peer.timeouts == 0, f"{name}: {peer.timeouts} requests unanswered"
        ms = [1000.0 * x for x in peer.latencies_s]
    finally:
        peer.close()
        server.close()
        listener.close()
    return row(f"rs485_latency {name} (TCP loopback)", ms, "ms", "p99 <= 20 ms")


def _paced_exchange(stream: PacedStream, codec: Rs485Codec, request: bytes) -> tuple[float, bytes]:
    """Write ``request`` at the line rate; (seconds until its answer's last byte, the answer)."""
    t0 = time.perf_counter()
    stream.write(request)
    buf = bytearray()
    while (frame := codec.take_frame(buf, response=True)) is None:
        buf += stream.read(0.05)
    return time.perf_counter() - t0, frame


def rs485_paced_latency(name: str, baud: int, cycles: int) -> list[dict[str, Any]]:
    """The inverter's poll over a pty pair paced at ``baud``: one row per request, latency beside wire time."""
    codec = create(resolve(name))
    assert isinstance(codec, Rs485Codec)
    modem = PtyNullModem()
    server = Rs485BatteryServer(codec, lambda: STATUS)
    server.serve_stream(PacedStream(open_serial(modem.paths[0], baud), baud))  # type: ignore[arg-type]
    inverter = PacedStream(open_serial(modem.paths[1], baud), baud)
    times: dict[bytes, list[float]] = {q: [] for q in codec.inverter_requests()}
    wire: dict[bytes, float] = {}
    try:
        for i in range(cycles + 1):
            for request, samples in times.items():
                took, answer = _paced_exchange(inverter, codec, request)
                wire[request] = wire_time_s(len(request) + len(answer), baud)
                if i:  # the first cycle warms up
                    samples.append(took)
    finally:
        server.close()
        inverter.close()
        modem.close()
    rows = []
    for request, values in times.items():
        name_of, fields = codec.describe(request)
        what = name_of.removesuffix(" request").removesuffix(" holding registers")
        what += f" {fields['start']}" if "start" in fields else ""
        ms = [1000.0 * v for v in values]
        wire_ms = 1000.0 * wire[request]
        r = row(f"rs485_paced {name} {what} ({baud} baud pty)", ms, "ms", "over_wire p99 <= 20 ms")
        rows.append(r | {"wire_ms": wire_ms, "over_wire_p99": r["p99"] - wire_ms})
    return rows


def modbus_latency(cycles: int) -> dict[str, Any]:
    codec = create(resolve("growatt-modbus"))
    assert isinstance(codec, Rs485Codec)
    service = ModbusBatteryService(codec, lambda: STATUS, "tcp://127.0.0.1:0")
    address = service.address
    assert address is not None
    peer_codec = create(resolve("growatt-modbus"))
    assert isinstance(peer_codec, Rs485Codec)
    peer = ModbusInverterPeer(peer_codec, f"tcp://{address[0]}:{address[1]}")
    try:
        for _ in range(5):
            peer.poll_once()
        peer.latencies_s.clear()
        for _ in range(cycles):
            peer.poll_once()
        ms = [1000.0 * x for x in peer.latencies_s]
    finally:
        peer.close()
        service.close()
    return row("rs485_latency growatt-modbus (pymodbus, TCP loopback)", ms, "ms", "p99 <= 20 ms")


def can_period(duration_s: float) -> list[dict[str, Any]]:
    spec = parse_can_spec("virtual:bench-period")
    codec = create(resolve("pylon-can"))
    assert isinstance(codec, CanCodec)
    battery = CanBatteryLink(codec, open_bus(spec, 500_000), lambda: STATUS)
    listener = open_bus(spec, 500_000)
    arrivals: list[float] = []
    battery.start()
    try:
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            msg = listener.recv(0.5)
            if msg is not None and msg.arbitration_id == 0x351:
                arrivals.append(time.monotonic())
    finally:
        battery.close()
        listener.shutdown()
    periods = [1000.0 * (b - a) for a, b in itertools.pairwise(arrivals)]
    deviation = [abs(p - 1000.0) for p in periods]
    return [
        row("can_cycle_period pylon-can (virtual bus)", periods, "ms", "1000 ms"),
        row("can_cycle_jitter |period - 1 s|", deviation, "ms", "p99 <= 10 ms"),
    ]


def timed(call: Callable[[], int], batches: int, per_batch: int) -> list[float]:
    """Microseconds per frame of ``call`` (which returns how many frames it handled), batch by batch."""
    out = []
    for _ in range(batches):
        t0 = time.perf_counter()
        frames = 0
        for _ in range(per_batch):
            frames += call()
        out.append(1e6 * (time.perf_counter() - t0) / max(frames, 1))
    return out


def codec_rates(batches: int) -> list[dict[str, Any]]:
    rows = []
    for entry in PROTOCOLS:
        if entry.compatibility:
            continue
        codec = create(entry)
        if isinstance(codec, CanCodec):
            c = codec
            view = c.decode_all(())
            frames = list(c.battery_cycle(STATUS))
            for f in c.inverter_cycle(view):
                frames += c.battery_answer(f, STATUS)

            def encode(c: CanCodec = c, view: BatteryView = view) -> int:
                out = list(c.battery_cycle(STATUS))
                for f in c.inverter_cycle(view):
                    out += c.battery_answer(f, STATUS)
                return len(out)

            def decode(c: CanCodec = c, frames: list = frames) -> int:  # type: ignore[type-arg]
                for f in frames:
                    c.decode(f)
                return len(frames)

        else:
            r = codec
            pairs = [(q, r.respond(q, STATUS)) for q in r.inverter_requests()]
            pairs = [(q, a) for q, a in pairs if a is not None]

            def encode(r: Rs485Codec = r, n: int = len(pairs)) -> int:
                for q in r.inverter_requests():
                    r.respond(q, STATUS)
                return n

            def decode(r: Rs485Codec = r, pairs: list = pairs) -> int:  # type: ignore[type-arg]
                for q, a in pairs:
                    r.decode_response(q, a)
                return len(pairs)

        rows.append(row(f"encode {entry.name}", timed(encode, batches, 20), "us/frame"))
        rows.append(row(f"decode {entry.name}", timed(decode, batches, 20), "us/frame"))
    return rows


def main() -> None:
    args = parse_args(__doc__)
    rows = [
        rs485_latency("pylon-rs485", 300 if args.quick else 2000),
        rs485_latency("voltronic-rs485", 300 if args.quick else 2000),
        rs485_latency("growatt-modbus", 300 if args.quick else 2000),
        modbus_latency(200 if args.quick else 1000),
    ]
    for name in ("pylon-rs485", "voltronic-pyl", "voltronic-rs485", "growatt-modbus"):
        rows += rs485_paced_latency(name, 9600, 2 if args.quick else 10)
        rows += rs485_paced_latency(name, 115_200, 5 if args.quick else 30)
    rows += can_period(20.0 if args.quick else 120.0)
    rows += codec_rates(10 if args.quick else 50)
    finish(NAME, rows, COLUMNS, args.json)
    lat = [r for r in rows if r["metric"].startswith("rs485_latency")]
    paced = [r for r in rows if r["metric"].startswith("rs485_paced")]
    worst = max(paced, key=lambda r: r["over_wire_p99"])
    slowest = max(paced, key=lambda r: r["wire_ms"])
    print(
        f"\nRS485 on a paced line: worst p99 over the wire time {worst['over_wire_p99']:.1f} ms ({worst['metric']}); "
        f"longest wire time {slowest['wire_ms']:.0f} ms ({slowest['metric']})"
    )
    jitter = next(r for r in rows if r["metric"].startswith("can_cycle_jitter"))
    print(
        f"\nRS485 p99 worst {max(r['p99'] for r in lat):.2f} ms (target 20 ms); "
        f"CAN period deviation p99 {jitter['p99']:.2f} ms (target 10 ms); "
        f"median encode {statistics.median(r['p50'] for r in rows if r['metric'].startswith('encode')):.1f} us/frame"
    )


if __name__ == "__main__":
    main()
