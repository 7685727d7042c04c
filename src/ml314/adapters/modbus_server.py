"""The pymodbus edge: a Modbus RTU battery server whose holding registers follow a live status, and a poller.

The server serves the registers of a register-map codec (``protocols.growatt_modbus.Codec``) computed from
``status_source()`` on every read, so what an inverter reads is always the bank of that instant. It answers only
the codec's slave address (requests for other slaves and broadcasts get no answer, as on a shared RS485 bus),
function 0x03 from the map, 0x10 writes inside the map acknowledged and not stored (the Growatt handshake), any
other function "illegal function", addresses outside the map "illegal data address", and 0x11 / 0x2B/0x0E with the
product's identity. pymodbus itself drops a request of a function it does not know and answers a read of 0 or
more than 125 registers with a malformed frame: ``ml314 run`` therefore serves the battery through the codec
(``runtime/modbus_links.py``) and keeps this server as a library edge and pymodbus' client as its peer.

A link is ``tcp://host:port`` (a TCP listener carrying RTU frames; port 0 picks a free one) or a serial port for
pyserial: a device (``/dev/ttyUSB0``) or a pyserial URL. For the server, pymodbus turns ``socket://host:port`` into
a TCP listener as well; for the poller, ``socket://host:port`` connects through pyserial. pymodbus and OS errors
become :class:`ml314.errors.TransportError`; a malformed link is an :class:`ml314.errors.InputError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, cast
from urllib.parse import urlsplit

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.errors import InputError, TransportError
from ml314.protocols.modbus_rtu import DeviceIdentity

__all__ = ["Link", "ModbusRtuPoller", "ModbusRtuServer", "RegisterMap", "parse_link", "poll_battery", "serve_registers"]

READ_HOLDING = 0x03
WRITE_MULTIPLE = 0x10
MAX_READ_COUNT = 125


class RegisterMap(Protocol):
    """What the edge needs from a Modbus register codec (``growatt_modbus.Codec`` has it)."""

    @property
    def slave_address(self) -> int: ...

    @property
    def register_addresses(self) -> tuple[int, ...]: ...

    def registers(self, status: BankStatus) -> Mapping[int, int]: ...

    def decode_registers(self, regs: Mapping[int, int]) -> BatteryView: ...

    def register_reads(self) -> tuple[tuple[int, int], ...]: ...


@dataclass(frozen=True, slots=True)
class Link:
    """A parsed link: ``tcp`` (host, port) or a ``serial`` port / pyserial URL."""

    tcp: tuple[str, int] | None = None
    serial: str | None = None


def parse_link(spec: str) -> Link:
    """``tcp://host:port`` -> TCP; anything else is handed to pyserial (device path or URL)."""
    spec = spec.strip()
    if not spec:
        raise InputError("empty RS485 link; give a serial port such as /dev/ttyUSB0 or tcp://host:port")
    if spec.lower().startswith("tcp://"):
        try:
            parts = urlsplit(spec)
            port = parts.port
        except ValueError as exc:
            raise InputError(f"bad TCP link {spec!r}: {exc}") from None
        if not parts.hostname or port is None:
            raise InputError(f"TCP link {spec!r} needs a host and a port, e.g. tcp://127.0.0.1:5020")
        return Link(tcp=(parts.hostname, port))
    return Link(serial=spec)


def device_identification(identity: DeviceIdentity | None = None) -> ModbusDeviceIdentification:
    """pymodbus' identity record for 0x11 and 0x2B/0x0E, from the product's (``protocols.modbus_rtu``)."""
    objects = (identity or DeviceIdentity()).objects()
    names = ("VendorName", "ProductCode", "MajorMinorRevision", "VendorUrl", "ProductName", "ModelName")
    info = {name: objects[i].decode("ascii") for i, name in enumerate(names) if objects[i]}
    info["UserApplicationName"] = objects[6].decode("ascii")
    return ModbusDeviceIdentification(info_name=info)  # type: ignore[no-untyped-call]


def _blocks(addresses: tuple[int, ...]) -> list[SimData]:
    """One SimData per run of consecutive addresses; the gaps stay invalid (exception 02)."""
    runs: list[list[int]] = []
    for a in sorted(addresses):
        if runs and a == runs[-1][-1] + 1:
            runs[-1].append(a)
        else:
            runs.append([a])
    return [SimData(address=r[0], count=len(r), values=0, datatype=DataType.REGISTERS) for r in runs]


class ModbusRtuServer:
    """A pymodbus RTU server for one register map; start with ``await start()`` or ``async with``."""

    def __init__(
        self,
        codec: RegisterMap,
        status_source: Callable[[], BankStatus],
        link: str,
        *,
        baud: int = 9600,
        trace: Callable[[bytes, bool], None] | None = None,
    ) -> None:
        """``trace(data, sent)`` sees every frame received and sent (the RS485 traffic log)."""
        self._trace = trace
        self._codec = codec
        self._source = status_source
        self._link = parse_link(link)
        self._spec = link
        self._baud = baud
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    async def _action(  # noqa: PLR0917 - pymodbus' SimAction signature
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus' hook before it answers from ``current_registers``: fill them from the status now."""
        del set_values  # a write is acknowledged, never stored: the next read recomputes every register
        if function_code not in (READ_HOLDING, WRITE_MULTIPLE):
            return ExcCodes.ILLEGAL_FUNCTION
        if function_code == READ_HOLDING:
            if not 1 <= count <= MAX_READ_COUNT:
                return ExcCodes.ILLEGAL_VALUE
            regs = self._codec.registers(self._source())
            for i in range(count):
                current_registers[address - start_address + i] = regs.get(address + i, 0)
        return None

    def _only_ours(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        # pymodbus drops a received request whose traced PDU is falsy; without this it would answer "device
        # failure" for every other slave on the bus.
        if sending or pdu.dev_id == self._codec.slave_address:
            return pdu
        return cast(ModbusPDU, None)

    def _packet(self, sending: bool, data: bytes) -> bytes:
        if self._trace is not None and data:
            self._trace(bytes(data), sending)
        return data

    async def start(self) -> None:
        """Listen (TCP) or open the serial port; raises :class:`TransportError` when that fails."""
        if self._server is not None:
            return
        device = SimDevice(
            id=self._codec.slave_address, simdata=_blocks(self._codec.register_addresses), action=self._action
        )
        server: ModbusTcpServer | ModbusSerialServer
        if self._link.tcp is not None:
            server = ModbusTcpServer(
                device,
                framer=FramerType.RTU,
                address=self._link.tcp,
                identity=device_identification(),
                trace_pdu=self._only_ours,
                trace_packet=self._packet,
            )
        else:
            server = ModbusSerialServer(
                device,
                framer=FramerType.RTU,
                port=self._link.serial or "",
                baudrate=self._baud,
                identity=device_identification(),
                trace_pdu=self._only_ours,
                trace_packet=self._packet,
            )
        try:
            await server.serve_forever(background=True)
        except (RuntimeError, OSError, ModbusException) as exc:
            await server.shutdown()  # type: ignore[no-untyped-call]
            raise TransportError(f"cannot serve Modbus RTU on {self._spec}: {exc}") from None
        self._server = server

    async def stop(self) -> None:
        """Close the listener or port and every open connection."""
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()  # type: ignore[no-untyped-call]

    @property
    def address(self) -> tuple[str, int] | None:
        """The bound (host, port) of a TCP listener (with the port the OS picked for port 0); None otherwise."""
        transport = self._server.transport if self._server is not None else None
        if isinstance(transport, asyncio.Server) and transport.sockets:
            host, port = transport.sockets[0].getsockname()[:2]
            return str(host), int(port)
        return None

    async def __aenter__(self) -> ModbusRtuServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve_registers(
    codec: RegisterMap, status_source: Callable[[], BankStatus], link: str, *, baud: int = 9600
) -> ModbusRtuServer:
    """Start serving ``codec``'s registers of ``status_source()`` on ``link``; ``await server.stop()`` ends it."""
    server = ModbusRtuServer(codec, status_source, link, baud=baud)
    await server.start()
    return server


class ModbusRtuPoller:
    """The inverter side with pymodbus: reads the codec's register blocks and decodes them."""

    def __init__(
        self, codec: RegisterMap, link: str, *, baud: int = 9600, timeout_s: float = 1.0, retries: int = 1
    ) -> None:
        self._codec = codec
        self._spec = link
        parsed = parse_link(link)
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if parsed.tcp is not None:
            host, port = parsed.tcp
            self._client = AsyncModbusTcpClient(
                host, port=port, framer=FramerType.RTU, timeout=timeout_s, retries=retries, reconnect_delay=0
            )
        else:
            self._client = AsyncModbusSerialClient(
                parsed.serial or "",
                framer=FramerType.RTU,
                baudrate=baud,
                timeout=timeout_s,
                retries=retries,
                reconnect_delay=0,
            )

    async def connect(self) -> None:
        try:
            ok = await self._client.connect()
        except (OSError, ModbusException) as exc:
            raise TransportError(f"cannot open {self._spec}: {exc}") from None
        if not ok:
            raise TransportError(f"cannot open {self._spec}")

    async def read_registers(self) -> dict[int, int]:
        """Every block of ``codec.register_reads()`` as address -> word."""
        slave = self._codec.slave_address
        regs: dict[int, int] = {}
        for start, count in self._codec.register_reads():
            try:
                response = await self._client.read_holding_registers(start, count=count, device_id=slave)
            except (TimeoutError, OSError, ModbusException) as exc:
                raise TransportError(
                    f"reading 0x{start:04X}+{count} from slave {slave} on {self._spec}: {exc}"
                ) from None
            if response.isError():
                code = getattr(response, "exception_code", "?")
                raise TransportError(f"slave {slave} refused the read of 0x{start:04X}+{count}: exception {code}")
            if len(response.registers) != count:
                raise TransportError(f"slave {slave} sent {len(response.registers)} registers for a read of {count}")
            regs.update({start + i: v for i, v in enumerate(response.registers)})
        return regs

    async def poll(self) -> BatteryView:
        """One polling cycle: the view the registers give."""
        return self._codec.decode_registers(await self.read_registers())

    def close(self) -> None:
        self._client.close()

    async def __aenter__(self) -> ModbusRtuPoller:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def poll_battery(
    codec: RegisterMap, link: str, *, baud: int = 9600, timeout_s: float = 1.0, retries: int = 1
) -> BatteryView:
    """Connect, poll once, close."""
    async with ModbusRtuPoller(codec, link, baud=baud, timeout_s=timeout_s, retries=retries) as poller:
        return await poller.poll()
