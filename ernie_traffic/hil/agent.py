"""SNMP agent of one virtual signal controller (pysnmp, asyncio, UDP).

The agent answers GET / GETNEXT / GETBULK for the NTCIP 1202 subset that
:meth:`VirtualController.ntcip_values` lists and SET for the phase control group registers only.
A SET is validated completely before anything is written (a value that is not an INTEGER — Gauge32,
Counter32, TimeTicks, a string — gets ``wrongType``, one outside 0..255 ``wrongValue``, a read-only
object ``notWritable``: the whole request is refused with that SNMP error). Wrong communities and
unknown SNMPv3 users are dropped by pysnmp's engine. Undecodable datagrams are dropped and counted
(:attr:`SnmpAgent.undecodable`): the engine's own ASN.1 parse errors, and the datagrams on which its
decoder raises something else; they are reported as one log line at most every
:data:`UNDECODABLE_REPORT_INTERVAL_S` and one at close, never as tracebacks. Nothing a client sends
can raise out of the agent.

The requests of the control loop (SNMPv2c GET, and SET that the controller accepts, with the right
community) are answered straight from the datagram with ``ernie_deploy.snmp_ber``, without pysnmp's
engine: its pure-Python message processing dominated the decision round trip. Everything else
(GETNEXT, GETBULK, refused SETs, SNMPv3, wrong communities, malformed datagrams) goes to the engine
unchanged, so its checks and error replies stay the only ones. The managers those fast answers go
to also get the sample-ready notification whenever the simulator publishes a new sample.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from ernie_deploy import ntcip, snmp_ber
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto.api import v2c
from pysnmp.smi import error, instrum

from ernie_traffic.errors import first_line
from ernie_traffic.hil.config import SnmpSettings
from ernie_traffic.hil.controller import CONTROL_COLUMNS, VirtualController

_WRITABLE = {(*column, 1) for column in CONTROL_COLUMNS}

# A manager that made no request for this long (wall seconds) gets no more notifications: it went away.
MANAGER_SILENCE_S = 60.0
# Undecodable datagrams are anyone's to send: at most one log line per this many wall seconds.
UNDECODABLE_REPORT_INTERVAL_S = 60.0

log = logging.getLogger(__name__)


def _syntax(value: int | str | None) -> Any:
    if value is None:
        return v2c.NoSuchObject()
    return v2c.OctetString(value) if isinstance(value, str) else v2c.Integer(value)


class _NtcipInstrumentation(instrum.AbstractMibInstrumController):
    """Maps SNMP variable bindings onto one :class:`VirtualController`."""

    def __init__(self, controller: VirtualController, on_command: Callable[[], None]):
        self.controller = controller
        self.on_command = on_command

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        values = self.controller.ntcip_values()
        return [(oid, _syntax(values.get(tuple(oid)))) for oid, _ in var_binds]

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        values = self.controller.ntcip_values()
        ordered = sorted(values)
        answer = []
        for oid, _ in var_binds:
            position = bisect.bisect_right(ordered, tuple(oid))
            if position == len(ordered):
                answer.append((oid, v2c.EndOfMibView()))
            else:
                following = ordered[position]
                answer.append((v2c.ObjectIdentifier(following), _syntax(values[following])))
        return answer

    def write_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        self.command([(oid, int(v) if isinstance(v, v2c.Integer) else v) for oid, v in var_binds])
        return list(var_binds)

    def command(self, var_binds: list[tuple[Any, object]]) -> None:
        """Write the control registers of one SET (INTEGER values as ``int``), all or nothing; raises
        pysnmp's error for the first binding that is refused."""
        writes = []
        for index, (oid, value) in enumerate(var_binds):
            key = tuple(oid)
            if key not in _WRITABLE:
                known = key in self.controller.ntcip_values()
                raise (error.NotWritableError if known else error.NoCreationError)(idx=index, name=oid)
            # INTEGER only: the codec decodes Counter32, Gauge32 and TimeTicks as ints of their own types
            if not isinstance(value, int) or isinstance(value, snmp_ber.Unsigned32):
                raise error.WrongTypeError(idx=index, name=oid)
            if not 0 <= value <= ntcip.BYTE_MAX:
                raise error.WrongValueError(idx=index, name=oid)
            writes.append((key[:-1], value))
        for column, mask in writes:
            self.controller.write_control(column, mask)
        self.controller.commit_command()
        self.on_command()

    def answer_v2c(self, datagram: bytes, community: bytes) -> bytes | None:
        """The response to a well-formed SNMPv2c GET, or SET the controller accepts, for
        ``community``; None for anything else (the engine then handles the datagram)."""
        try:
            request = snmp_ber.decode(datagram)
        except snmp_ber.BerError:
            return None
        if request.version != snmp_ber.SNMP_V2C or request.community != community:
            return None
        if request.pdu_tag == snmp_ber.GET:
            values = self.controller.ntcip_values()
            answer = [(oid, _plain(values.get(oid))) for oid, _ in request.var_binds]
        elif request.pdu_tag == snmp_ber.SET:
            try:
                self.command(request.var_binds)
            except error.MibOperationError:
                return None
            answer = request.var_binds
        else:
            return None
        try:
            response = request._replace(pdu_tag=snmp_ber.RESPONSE, var_binds=answer)
            return snmp_ber.encode(response, absent_tag=snmp_ber.NO_SUCH_OBJECT)
        except snmp_ber.BerError:
            return None


def _plain(value: int | str | None) -> int | bytes | None:
    return value.encode() if isinstance(value, str) else value


class _EngineTransport(udp.UdpAsyncioTransport):
    """pysnmp's UDP transport, handing each datagram to the engine so that nothing raises into the
    event loop: on some bytes pyasn1 raises errors other than its own (``TypeError``...), which the
    engine lets through; ``after_engine`` is called after every datagram with that exception or None."""

    def __init__(self, after_engine: Callable[[Exception | None], None]):
        super().__init__()
        self._after_engine = after_engine

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self.loop.call_soon(self._to_engine, datagram, transportAddress)

    def _to_engine(self, datagram: bytes, address: Any) -> None:
        try:
            self._callback_function(self, address, datagram)
        except Exception as failure:  # the engine drops what it cannot decode; this is the rest of it
            self._after_engine(failure)
        else:
            self._after_engine(None)


class _FastV2cTransport(_EngineTransport):
    """The engine's transport, answering what the instrumentation's fast path can at once and
    passing the rest on.

    The addresses it answered (managers with the right community) are the ones :meth:`notify`
    sends notifications to, for as long as they keep making requests."""

    def __init__(
        self,
        instrumentation: _NtcipInstrumentation,
        community: bytes,
        after_engine: Callable[[Exception | None], None],
    ):
        super().__init__(after_engine)
        self._instrumentation = instrumentation
        self._community = community
        self._notification_ids = itertools.count(1)
        self._managers: dict[Any, float] = {}  # address -> wall time of its last answered request

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        reply = self._instrumentation.answer_v2c(datagram, self._community)
        if reply is None:
            super().datagram_received(datagram, transportAddress)
        elif self.transport is not None:
            self._managers[transportAddress] = time.monotonic()
            self.transport.sendto(reply, transportAddress)

    def notify(self, var_binds: list[tuple[tuple[int, ...], snmp_ber.Value]]) -> None:
        """Send an SNMPv2-Trap with ``var_binds`` to every manager heard from lately."""
        if self.transport is None:
            return
        now = time.monotonic()
        for address, heard in list(self._managers.items()):
            if now - heard > MANAGER_SILENCE_S:
                del self._managers[address]
        if not self._managers:
            return
        message = snmp_ber.Message(
            snmp_ber.SNMP_V2C, self._community, snmp_ber.TRAP, next(self._notification_ids), 0, 0, var_binds
        )
        wire = snmp_ber.encode(message)
        for address in self._managers:
            self.transport.sendto(wire, address)


class SnmpAgent:
    """One controller's SNMP endpoint on ``host:port``; await :meth:`close` to free the port."""

    def __init__(
        self,
        controller: VirtualController,
        host: str,
        port: int,
        settings: SnmpSettings,
        on_command: Callable[[], None],
    ):
        self.address = (host, port)
        self.controller = controller
        self._started = time.monotonic()
        self.engine = engine.SnmpEngine()
        listening = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            listening.bind(self.address)  # here, so that a port in use fails now and clearly
        except OSError:
            listening.close()
            raise
        instrumentation = _NtcipInstrumentation(controller, on_command)
        self.undecodable = 0  # datagrams dropped because they are not an SNMP message
        self._undecodable_reported = 0
        self._reported_at = -UNDECODABLE_REPORT_INTERVAL_S
        self._last_failure = ""
        if settings.version == "2c":
            transport = _FastV2cTransport(instrumentation, settings.community.encode(), self._after_engine)
        else:
            transport = _EngineTransport(self._after_engine)
        self._notifier = transport if isinstance(transport, _FastV2cTransport) else None
        self._udp = transport.open_server_mode(sock=listening)
        config.add_transport(self.engine, udp.DOMAIN_NAME, self._udp)
        subtree = (1, 3, 6, 1, 4, 1)
        if settings.version == "2c":
            config.add_v1_system(self.engine, "ernie-area", settings.community)
            config.add_vacm_user(self.engine, 2, "ernie-area", "noAuthNoPriv", subtree, subtree)
        else:
            config.add_v3_user(
                self.engine,
                settings.user,
                config.USM_AUTH_HMAC192_SHA256,
                settings.auth_key,
                config.USM_PRIV_CFB128_AES,
                settings.priv_key,
            )
            config.add_vacm_user(self.engine, 3, settings.user, "authPriv", subtree, subtree)
        snmp_context = context.SnmpContext(self.engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", instrumentation)
        for responder in (
            cmdrsp.GetCommandResponder,
            cmdrsp.NextCommandResponder,
            cmdrsp.BulkCommandResponder,
            cmdrsp.SetCommandResponder,
        ):
            responder(self.engine, snmp_context)
        # the engine's count of datagrams its ASN.1 decoder refused (RFC 3418 snmpInASNParseErrs)
        (self._parse_errors,) = self.engine.get_mib_builder().import_symbols(
            "__SNMPv2-MIB", "snmpInASNParseErrs"
        )
        self._parse_errors_seen = int(self._parse_errors.syntax)

    def _after_engine(self, failure: Exception | None) -> None:
        parse_errors = int(self._parse_errors.syntax)
        self.undecodable += parse_errors - self._parse_errors_seen + (failure is not None)
        self._parse_errors_seen = parse_errors
        if failure is not None:
            self._last_failure = f" (the last one: {type(failure).__name__}: {first_line(failure)})"
        if time.monotonic() - self._reported_at >= UNDECODABLE_REPORT_INTERVAL_S:
            self._report_undecodable()

    def _report_undecodable(self) -> None:
        """One log line for the undecodable datagrams since the last line, if there were any."""
        new = self.undecodable - self._undecodable_reported
        if new:
            host, port = self.address
            log.warning(
                "%s (%s:%d): dropped %d undecodable datagram%s (%d in all)%s",
                self.controller.intersection.id,
                host,
                port,
                new,
                "" if new == 1 else "s",
                self.undecodable,
                self._last_failure,
            )
            self._undecodable_reported = self.undecodable
            self._last_failure = ""
            self._reported_at = time.monotonic()

    def notify_sample(self) -> None:
        """Tell the SNMPv2c managers of this controller that its new sample is ready (the
        sample-ready notification, see ``ernie_deploy.ntcip``). SNMPv3 managers poll instead."""
        if self._notifier is not None:
            uptime = time.monotonic() - self._started
            self._notifier.notify(ntcip.sample_ready(uptime, self.controller.sequence))

    async def close(self) -> None:
        """Stop listening, let requests already received finish, then release the engine."""
        if self._udp.transport is not None:
            self._udp.transport.close()
        await asyncio.sleep(0)
        self.engine.close_dispatcher()
        self._report_undecodable()
