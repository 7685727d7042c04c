"""How many module samples per second does the fleet path (devices -> Mosquitto -> ``ml314 cloud`` -> PostgreSQL)
store while N devices publish live, and how close is that to what the same PostgreSQL takes by raw COPY?

Each run starts a private Mosquitto with the generated fleet configuration and a fresh database on a private
PostgreSQL (``cloud_ingest.Fleet``, shared with benchmarks/cloud_ingest.py), then 1 or 2 ``ml314 cloud`` workers.
N simulated devices, each on its own MQTT connection and account, publish one 16-module sample a second (16 module
samples/s each; the exact payload of ``ml314 run --mqtt``, cloud/telemetry.py, with ``ts`` the time it was sent) at
QoS 1 for ``--seconds``. The publishers are light: a few processes, each driving its devices' paho clients from one
loop (no ``ml314 run``). Once the publishers stop, the run waits for the last sample (or 20 s without progress).

Row per (devices, workers), median of ``--repeats`` runs with min and max: ``offered_per_s`` (module samples/s
sent), ``samples_per_s`` (module samples stored per second over the run's steady part, the first ``--warmup``
seconds left out), ``lag_p99_s`` (sample ``ts`` to the start of the transaction that stored it, the row's
``received``), ``lost`` and ``duplicated`` (both must be 0), ``copy_limit_samples_per_s`` (module rows per second
that one client COPYs straight into the same tables of the same server, batches of 500 messages pre-formatted: the
database's limit), the workers' CPU per message, and the load average before and after the run (the machine is
shared).

    python benchmarks/fleet.py [--quick] [--json PATH] [--devices 1000,2000] [--seconds S] [--repeats N]
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import selectors
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from _common import finish, parser
from cloud_ingest import MODULES, PASSWORD, Fleet, _cpu_s

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' private servers and workers
from tests.cloud.payloads import sample
from tests.cloud.workers import CloudProcess, count
from tests.mosquitto import mosquitto_binary
from tests.postgres import PostgresServer, _bin_dir

from ml314.cloud.fleet_rows import BANK_COLUMNS, MODULE_COLUMNS, copy_line, parse_message
from ml314.cloud.fleet_schema import create_schema

NAME = "fleet"
COLUMNS = ("devices", "workers", "offered_per_s", "samples_per_s", "min_samples_per_s", "max_samples_per_s",
           "lag_p99_s", "lost", "duplicated", "copy_limit_samples_per_s", "of_limit", "worker_cpu_ms_per_msg",
           "runs", "load_before", "load_after")  # fmt: skip
PUBLISHERS = 3  # processes publishing for the devices


def _serials(devices: int) -> list[str]:
    return [f"ML314-FLEET{d:07d}" for d in range(devices)]


def _publish(port: int, serials: list[str], start_s: float, seconds: int, out: Any) -> None:
    """One publisher process: its devices' clients, each sends sample 1..``seconds`` once a second from
    ``start_s`` (the devices spread over the second); puts the number of samples the broker acknowledged."""
    base = sample(serials[0], 1, start_s, MODULES)
    clients: list[mqtt.Client] = []
    acked = [0]
    sel = selectors.DefaultSelector()

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        acked[0] += 1

    for serial in serials:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=serial, protocol=mqtt.MQTTv5)
        c.username_pw_set(serial, PASSWORD)
        c.on_publish = on_publish
        c.connect("127.0.0.1", port, keepalive=600)
        sel.register(c.socket(), selectors.EVENT_READ, c)
        clients.append(c)

    def pump(timeout: float) -> None:
        for key, _ in sel.select(timeout):
            key.data.loop_read()
        for c in clients:
            if c.want_write():
                c.loop_write()

    while not all(c.is_connected() for c in clients):
        pump(0.05)
    n = len(serials)
    bodies = [dict(base, serial=s) for s in serials]
    for k in range(seconds):
        for i, c in enumerate(clients):
            due = start_s + k + i / n
            while (now := time.time()) < due:
                pump(min(due - now, 0.01))
            body = dict(bodies[i], seq=k + 1, ts=round(now, 3), t_s=float(k + 1))
            c.publish(f"ml314/{serials[i]}/telemetry", orjson.dumps(body), qos=1)
    deadline = time.monotonic() + 30
    while acked[0] < n * seconds and time.monotonic() < deadline:
        pump(0.05)
    for c in clients:
        c.disconnect()
    out.put(acked[0])


def one_run(
    tmp: Path, pg: PostgresServer, binary: Path, *, devices: int, workers: int, seconds: int, warmup: int
) -> dict:
    serials = _serials(devices)
    fleet = Fleet.start(tmp, pg, binary, serials)
    procs: list[CloudProcess] = []
    try:
        procs = [CloudProcess(fleet.url, fleet.db, f"w{i}", "--quiet").ready() for i in range(workers)]
        load_before = os.getloadavg()[0]
        start_s = time.time() + 2.0 + devices / 2000  # the clients connect meanwhile
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        pubs = [ctx.Process(target=_publish, args=(fleet.port, serials[i::PUBLISHERS], start_s, seconds, out))
                for i in range(PUBLISHERS)]  # fmt: skip
        for p in pubs:
            p.start()
        groups = fleet.cpu_groups(pg, procs)
        while time.time() < start_s:
            time.sleep(0.05)
        cpu0 = _cpu_s(groups["worker"])
        acked = sum(out.get(timeout=seconds + 120) for _ in pubs)
        for p in pubs:
            p.join()
        total, stored, last, since = devices * seconds, -1, -1, time.monotonic()
        while stored < total and time.monotonic() - since < 20.0:
            time.sleep(0.1)
            stored = count(fleet.engine, "SELECT count(*) FROM fleet_bank_sample")
            if stored != last:
                last, since = stored, time.monotonic()
        worker_cpu = _cpu_s(groups["worker"]) - cpu0
        load_after = os.getloadavg()[0]
        with fleet.engine.connect() as c:
            q = c.exec_driver_sql
            a, b = start_s + warmup, start_s + seconds
            steady = q(
                "SELECT count(*) FROM fleet_bank_sample WHERE received >= to_timestamp(%(a)s) "
                "AND received < to_timestamp(%(b)s)", {"a": a, "b": b}
            ).scalar_one()  # fmt: skip
            lag = q(
                "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received - ts)) "
                "FROM fleet_bank_sample"
            ).scalar_one()
            distinct = q("SELECT count(DISTINCT (serial, seq)) FROM fleet_bank_sample").scalar_one()
            modules = q("SELECT count(*) FROM fleet_module_sample").scalar_one()
        return {
            "samples_per_s": MODULES * steady / (b - a),
            "lag_p99_s": float(lag),
            "lost": total - distinct,
            "duplicated": stored - distinct + modules - MODULES * stored,
            "acked": acked,
            "worker_cpu_ms_per_msg": 1000.0 * worker_cpu / max(stored, 1),
            "load_before": load_before,
            "load_after": load_after,
        }
    finally:
        for p in procs:
            p.stop()
        fleet.close()


def copy_limit(pg: PostgresServer, messages: int, batch: int = 500) -> float:
    """Module rows per second one client COPYs (pre-formatted, ``batch`` messages a transaction) into the fleet's
    bank and module tables on a fresh database of ``pg``."""
    from sqlalchemy import create_engine  # noqa: PLC0415

    from ml314.cloud.fleet_store import fleet_db_url  # noqa: PLC0415

    db = pg.new_database()
    engine = create_engine(fleet_db_url(db))
    create_schema(engine)
    engine.dispose()
    now = time.time()
    base = sample("ML314-COPY0000000", 1, now, MODULES)
    parsed = [
        parse_message(
            "ml314/ML314-COPY0000000/telemetry", orjson.dumps(dict(base, seq=i + 1, ts=now - messages + i)), now
        )
        for i in range(messages)
    ]

    def stamp(x: float) -> str:  # the tables hold timestamptz (the worker's staging tables hold Unix seconds)
        return dt.datetime.fromtimestamp(x, dt.UTC).isoformat()

    def bank_line(row: tuple[Any, ...]) -> str:
        return copy_line((*row[:2], stamp(row[2]), *row[3:6], stamp(row[6]), *row[7:]))

    def module_lines(text: str) -> str:
        fields = [line.split("\t") for line in text.splitlines()]
        return "".join("\t".join([*f[:2], stamp(float(f[2])), *f[3:]]) + "\n" for f in fields)

    chunks = [
        ("".join(bank_line(p.bank) for p in parsed[i : i + batch] if p.bank).encode(),
         "".join(module_lines(p.module_text) for p in parsed[i : i + batch]).encode())
        for i in range(0, messages, batch)
    ]  # fmt: skip
    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        t0 = time.perf_counter()
        for banks, modules in chunks:
            with conn.cursor() as cur:
                with cur.copy(f"COPY fleet_bank_sample ({', '.join(BANK_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(banks)
                with cur.copy(f"COPY fleet_module_sample ({', '.join(MODULE_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(modules)
            conn.commit()
        elapsed = time.perf_counter() - t0
    return MODULES * messages / elapsed


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--devices", default=None, help="device counts, comma-separated (default 1000,2000,3200)")
    p.add_argument("--seconds", type=int, default=None, help="how long the devices publish (default 20; --quick 10)")
    p.add_argument("--warmup", type=int, default=5, help="seconds left out of the stored rate (default 5)")
    p.add_argument("--repeats", type=int, default=None, help="runs per row (default 3; --quick 1)")
    args = p.parse_args()
    devices = [int(x) for x in (args.devices or ("500,1000" if args.quick else "1000,2000,3200")).split(",")]
    seconds = args.seconds or (10 if args.quick else 20)
    repeats = args.repeats or (1 if args.quick else 3)
    binary, pg_bin = mosquitto_binary(), _bin_dir()
    if binary is None or pg_bin is None:
        sys.exit("needs Mosquitto and PostgreSQL's binaries (make system)")
    pg = PostgresServer(pg_bin)
    pg.start()
    rows = []
    try:
        limits = [copy_limit(pg, 2000 if args.quick else 5000) for _ in range(max(repeats, 2))]
        limit = statistics.median(limits)
        print(f"COPY limit: {', '.join(f'{x:.0f}' for x in limits)} module samples/s", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="ml314-bench-") as tmp:
            for n in devices:
                for workers in (1, 2):
                    size = {"devices": n, "workers": workers, "seconds": seconds, "warmup": args.warmup}
                    runs = [one_run(Path(tmp), pg, binary, **size) for _ in range(repeats)]
                    rates = [r["samples_per_s"] for r in runs]
                    median = statistics.median(rates)
                    rows.append({
                        "devices": n, "workers": workers, "offered_per_s": n * MODULES, "samples_per_s": median,
                        "min_samples_per_s": min(rates), "max_samples_per_s": max(rates),
                        "lag_p99_s": statistics.median(r["lag_p99_s"] for r in runs),
                        "lost": max(r["lost"] for r in runs), "duplicated": max(r["duplicated"] for r in runs),
                        "copy_limit_samples_per_s": limit, "of_limit": median / limit,
                        "worker_cpu_ms_per_msg": statistics.median(r["worker_cpu_ms_per_msg"] for r in runs),
                        "runs": repeats, "load_before": min(r["load_before"] for r in runs),
                        "load_after": max(r["load_after"] for r in runs),
                    })  # fmt: skip
                    print(f"{n} devices, {workers} worker(s): {', '.join(f'{r:.0f}' for r in rates)} module "
                          f"samples/s, lag p99 {[round(r['lag_p99_s'], 2) for r in runs]} s, "
                          f"acked {[r['acked'] for r in runs]}", file=sys.stderr)  # fmt: skip
    finally:
        pg.stop()
    finish(NAME, rows, COLUMNS, args.json)


if __name__ == "__main__":
    main()
