"""Local mode's discovery over real mDNS multicast, confined to loopback: a device announced on 127.0.0.1 is found
by the app's transport with its TXT records, its network mode change is seen, and its goodbye removes it.

Multicast on loopback: Linux delivers IPv4 multicast sent with ``IP_MULTICAST_IF`` = 127.0.0.1 to sockets that
joined the group on 127.0.0.1 (measured here, as root, on the CI's kind of machine), and nothing leaves the machine.
Scans repeat until the condition holds: an mDNS answer takes its own random delay (RFC 6762), never a test limit.
"""

from __future__ import annotations

import secrets

from zeroconf import IPVersion

from ml314.adapters.device_transport import TRANSPORTS, FoundDevice
from ml314.adapters.mdns_transport import MdnsAnnouncer, interfaces_for


def _scan_until(transport, serial: str, cond) -> FoundDevice | None:  # type: ignore[no-untyped-def]
    while True:
        found = {d.serial: d for d in transport.discover(0.5)}
        if cond(found.get(serial)):
            return found.get(serial)


def test_loopback_stays_on_loopback() -> None:
    assert interfaces_for("127.0.0.1") == (["127.0.0.1"], IPVersion.V4Only)
    assert interfaces_for("::1") == (["::1"], IPVersion.V6Only)


def test_a_device_is_found_its_mode_followed_and_its_goodbye_heard() -> None:
    serial = "ML314-TEST" + secrets.token_hex(4).upper()  # tests in parallel announce their own devices
    name = f"Smart Battery-{serial[-4:]}"
    announcer = MdnsAnnouncer(serial, name, "127.0.0.1", 8314, "ap")
    transport = TRANSPORTS["mdns"](host="127.0.0.1")
    try:
        found = _scan_until(transport, serial, lambda d: d is not None)
        assert found == FoundDevice(serial, name, "ap", "mdns", "127.0.0.1:8314")
        announcer.update("sta")
        assert _scan_until(transport, serial, lambda d: d is not None and d.mode == "sta") is not None
        announcer.close()
        assert _scan_until(transport, serial, lambda d: d is None) is None
    finally:
        announcer.close()
        transport.close()
