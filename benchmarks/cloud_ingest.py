"""How many messages and module samples per second do one and two ``ml314 cloud`` workers store in PostgreSQL?

Each run starts a private Mosquitto with the generated fleet configuration (``ml314 broker-config``'s, with the
cloud account and ``--devices`` accounts) and uses a fresh database on a private PostgreSQL (as the tests do). The
workers (``ml314 cloud`` processes) subscribe once and stop, so the broker holds their sessions; the devices'
accounts then publish ``--messages`` samples of a 16-module bank (about 7.3 kB of JSON each, the exact format of
``ml314 run --mqtt``) at QoS 1, which the broker queues for the workers' sessions; the workers start again and the
clock runs from the first stored row to the last. So the number is the ingest path alone (broker -> worker ->
COPY -> PostgreSQL) without the publishers' CPU, on the same machine as the broker and the database.

Rows per worker count (median of ``--repeats`` runs, with min and max): ``msg_per_s`` (samples, i.e. MQTT
messages, stored per second), ``module_samples_per_s`` (16 module rows per message), ``lost`` and ``duplicated``
(both must be 0), and the CPU each part used per message (``worker_cpu_ms_per_msg`` the workers together,
``broker_cpu_ms_per_msg`` Mosquitto, ``postgres_cpu_ms_per_msg`` the server's processes), which does not depend on
what else the machine runs: their sum is what one message costs this machine's cores.

    python benchmarks/cloud_ingest.py [--quick] [--json PATH] [--messages N] [--repeats N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from _common import finish, parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' private servers and workers
from tests.cloud.payloads import sample
from tests.cloud.workers import CloudProcess, count
from tests.mosquitto import MosquittoBroker, free_port, mosquitto_binary
from tests.postgres import PostgresServer, _bin_dir

from ml314.cloud.broker_config import BrokerListener, ServiceAccount, mosquitto_hash, write_broker_config
from ml314.cloud.fleet_store import fleet_db_url

NAME = "cloud_ingest"
CPU = ("worker_cpu_ms_per_msg", "broker_cpu_ms_per_msg", "postgres_cpu_ms_per_msg")
COLUMNS = ("workers", "messages", "modules", "payload_bytes", "msg_per_s", "module_samples_per_s", "min_msg_per_s",
           "max_msg_per_s", "runs", "lost", "duplicated", *CPU)  # fmt: skip
MODULES = 16
DEVICES = 8
PASSWORD = "bench-device-password"


def _payloads(messages: int) -> list[tuple[str, bytes]]:
    """``messages`` samples, spread over the devices, each with its own seq and time."""
    base = {d: sample(f"ML314-BENCH{d:07d}", 1, 0.0, MODULES) for d in range(DEVICES)}
    now = time.time() - messages
    out = []
    for i in range(messages):
        d, seq = i % DEVICES, i // DEVICES + 1
        body = dict(base[d], seq=seq, ts=round(now + i, 3), t_s=float(seq))
        out.append((d, orjson.dumps(body)))
    return [(f"ML314-BENCH{d:07d}", p) for d, p in out]


def _publish(port: int, payloads: list[tuple[str, bytes]]) -> None:
    """Every payload at QoS 1 from its device's account; returns once the broker acknowledged them all."""
    by_device: dict[str, list[bytes]] = {}
    for serial, p in payloads:
        by_device.setdefault(serial, []).append(p)
    for serial, items in by_device.items():
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=serial, protocol=mqtt.MQTTv5)
        c.username_pw_set(serial, PASSWORD)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", port)
        c.loop_start()
        infos = [c.publish(f"ml314/{serial}/telemetry", p, qos=1) for p in items]
        for info in infos:
            info.wait_for_publish(600)
        c.disconnect()
        c.loop_stop()


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far (0 for one that is gone)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * _TICK_S
    return total


def _children(parent: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


@dataclass
class Fleet:
    """A private Mosquitto with the generated configuration for ``devices`` (password :data:`PASSWORD`) and the
    cloud account, and a fresh database on the private PostgreSQL: what both cloud benchmarks start from."""

    broker: MosquittoBroker
    port: int
    db: str
    engine: sa.Engine
    url: str  # the cloud account's --mqtt

    @classmethod
    def start(cls, tmp: Path, pg: PostgresServer, binary: Path, devices: list[str]) -> Fleet:
        port = free_port()
        digest = mosquitto_hash(PASSWORD)
        files = write_broker_config(tmp / f"broker{port}", [(s, digest) for s in devices],
                                    [ServiceAccount("cloud", "cloud")], BrokerListener("127.0.0.1", port))  # fmt: skip
        broker = MosquittoBroker(binary, files.conf, port)
        broker.start()
        db = pg.new_database()
        url = f"mqtt://cloud:{files.passwords['cloud']}@127.0.0.1:{port}"
        return cls(broker, port, db, sa.create_engine(fleet_db_url(db)), url)

    def cpu_groups(self, pg: PostgresServer, procs: list[CloudProcess]) -> dict[str, list[int]]:
        """The processes whose CPU time each part of the path costs."""
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
        assert self.broker._process is not None
        return {"worker": [p.proc.pid for p in procs], "broker": [self.broker._process.pid],
                "postgres": _children(postmaster)}  # fmt: skip

    def close(self) -> None:
        self.broker.close()
        self.engine.dispose()


def one_run(tmp: Path, pg: PostgresServer, binary: Path, workers: int, payloads: list[tuple[str, bytes]]) -> dict:
    fleet = Fleet.start(tmp, pg, binary, sorted({s for s, _ in payloads}))
    port, db, engine, url = fleet.port, fleet.db, fleet.engine, fleet.url
    names = [f"w{i}" for i in range(workers)]
    procs: list[CloudProcess] = []
    try:
        procs = [CloudProcess(url, db, n, "--quiet").ready() for n in names]  # the sessions and subscriptions
        assert all(p.stop() == 0 for p in procs)
        _publish(port, payloads)  # queued by the broker for the workers' sessions
        procs = [CloudProcess(url, db, n, "--quiet") for n in names]
        total = len(payloads)
        stored = 0
        while stored == 0:
            stored = count(engine, "SELECT count(*) FROM fleet_bank_sample")
            time.sleep(0.02)
        groups = fleet.cpu_groups(pg, procs)
        t0, first = time.monotonic(), stored
        cpu0 = {k: _cpu_s(v) for k, v in groups.items()}
        while stored < total:
            time.sleep(0.02)
            stored = count(engine, "SELECT count(*) FROM fleet_bank_sample")
            if any(p.proc.poll() is not None for p in procs):
                raise RuntimeError(f"a worker ended: {[p.errors for p in procs]}")
        elapsed = time.monotonic() - t0
        cpu = {k: _cpu_s(v) - cpu0[k] for k, v in groups.items()}
        modules = count(engine, "SELECT count(*) FROM fleet_module_sample")
        distinct = count(engine, "SELECT count(DISTINCT (serial, seq)) FROM fleet_bank_sample")
        done = total - first
        return {
            "msg_per_s": done / elapsed,
            **{f"{k}_cpu_ms_per_msg": 1000.0 * c / done for k, c in cpu.items()},
            "lost": total - distinct,
            "duplicated": stored - distinct + modules - MODULES * stored,
        }
    finally:
        for p in procs:
            p.stop()
        fleet.close()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--messages", type=int, default=None, help="samples per run (default 20000; --quick 5000)")
    p.add_argument("--repeats", type=int, default=None, help="runs per worker count (default 3; --quick 2)")
    args = p.parse_args()
    messages = args.messages or (5000 if args.quick else 20000)
    repeats = args.repeats or (2 if args.quick else 3)
    binary, pg_bin = mosquitto_binary(), _bin_dir()
    if binary is None or pg_bin is None:
        sys.exit("needs Mosquitto and PostgreSQL's binaries (make system)")
    payloads = _payloads(messages)
    size = round(statistics.mean(len(b) for _, b in payloads))
    pg = PostgresServer(pg_bin)
    pg.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="ml314-bench-") as tmp:
            for workers in (1, 2):
                runs = [one_run(Path(tmp), pg, binary, workers, payloads) for _ in range(repeats)]
                rates = [r["msg_per_s"] for r in runs]
                median = statistics.median(rates)
                rows.append({
                    "workers": workers, "messages": messages, "modules": MODULES, "payload_bytes": size,
                    "msg_per_s": median, "module_samples_per_s": median * MODULES, "min_msg_per_s": min(rates),
                    "max_msg_per_s": max(rates), "runs": repeats, "lost": max(r["lost"] for r in runs),
                    "duplicated": max(r["duplicated"] for r in runs),
                    **{k: statistics.median(r[k] for r in runs) for k in CPU},
                })  # fmt: skip
                print(f"{workers} worker(s): {', '.join(f'{r:.0f}' for r in rates)} msg/s", file=sys.stderr)
    finally:
        pg.stop()
    finish(NAME, rows, COLUMNS, args.json)


if __name__ == "__main__":
    main()
