"""Talk NTCIP 1202 over SNMP to a signal controller (a real one, or ernie-traffic's virtual one).

SNMPv2c requests go over a plain UDP socket, encoded by ``ernie_deploy.snmp_ber`` (fast, no extra
dependency, and a closed port is reported as such). SNMPv3 requests go through pysnmp's engine
(user-based security: authentication + privacy) and need the optional ``snmp`` extra
(``pip install ./deploy[snmp]``: pysnmp; cryptography, for the privacy, is a dependency anyway).

Example::

    client = NtcipClient("127.0.0.1", 16100, SnmpCredentials(community="public"))
    reading = client.read()            # sequence, signal status, vehicles and queue per detector
    client.command_green(2)            # hold phase 2, or force off the current green and call 2
    client.wait_for_sample(reading.sequence, poll_interval_s=0.002)  # the next sample's sequence

An SNMPv2c client also listens for the controller's sample-ready notifications (``ntcip.SAMPLE_READY``)
on its socket, so it learns of a new sample without polling for it.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from dataclasses import dataclass, field

from ernie_deploy import ntcip, snmp_ber
from ernie_deploy.cabinet import CabinetIntersection
from ernie_deploy.timing import TimingConfig

# How long a runtime waits for a sample-ready notification before it polls, once the controller is
# known to send them: only a lost datagram makes this wait expire.
NOTIFIED_POLL_S = 0.5


class ControllerUnreachable(RuntimeError):
    """The signal controller did not answer, or refused the request; the message says why."""


@dataclass(frozen=True)
class SnmpCredentials:
    """SNMPv2c community, or SNMPv3 user with SHA-256 authentication and AES-128 privacy.

    ``version="3"`` with ``user``, ``auth_key`` and ``priv_key`` is the production setting; ``"2c"``
    sends the community in clear text and is meant for loopback simulation."""

    version: str = "2c"
    community: str = "public"
    user: str = ""
    auth_key: str = ""
    priv_key: str = ""


@dataclass
class ControllerReading:
    """One poll of a controller: the sample sequence, the signal status and the detector data."""

    sequence: int
    period_s: int
    greens: list[int]  # NTCIP phase numbers showing green
    yellows: list[int]
    phase_on: int  # the phase being timed: the green, or during yellow/red clearance the green being left
    stage_time_s: float  # seconds since the current green / yellow / red clearance began
    vehicles: list[int] = field(default_factory=list)  # per detector, vehicles on the zone now
    queue: list[float] = field(default_factory=list)  # per detector, halted vehicles on the zone now


class _V2cTransport:
    """SNMPv2c over a connected UDP socket: one request, one response, no engine (``snmp_ber``)."""

    def __init__(self, host: str, port: int, community: str, timeout_s: float, retries: int):
        self._community = community.encode()
        self._where = f"{host}:{port}"
        self._retries = retries
        self._request_ids = itertools.count(1)
        self._announced: int | None = None  # a sample-ready notification received while waiting for an answer
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.settimeout(timeout_s)
        self._socket.connect((host, port))

    def request(self, kind: str, var_binds: list[tuple[tuple[int, ...], int | None]]) -> list[tuple]:
        request_id = next(self._request_ids)
        pdu_tag = snmp_ber.GET if kind == "get" else snmp_ber.SET
        wire = snmp_ber.encode(
            snmp_ber.Message(snmp_ber.SNMP_V2C, self._community, pdu_tag, request_id, 0, 0, var_binds)
        )
        for _ in range(self._retries + 1):
            try:
                self._socket.send(wire)
                response = self._receive(request_id)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                raise ControllerUnreachable(
                    f"nothing is listening at {self._where} (connection refused): wrong host or port?"
                ) from None
            if response.error_status:
                names = snmp_ber.ERROR_NAMES
                status = response.error_status
                name = names[status] if status < len(names) else f"error-status {status}"
                raise ControllerUnreachable(f"{self._where} refused the {kind}: SNMP error {name}")
            return response.var_binds
        raise ControllerUnreachable(
            f"no answer from {self._where} within {self._socket.gettimeout()} s: the agent is not running, "
            "or the community string is wrong (SNMPv2c agents silently drop requests with an unknown "
            "community)"
        )

    def _receive(self, request_id: int) -> snmp_ber.Message:
        while True:  # skip late answers to earlier requests and garbage; the socket timeout bounds this
            message = self._next_message()
            if message is None:
                continue
            if message.pdu_tag == snmp_ber.RESPONSE and message.request_id == request_id:
                return message
            self._keep_announcement(message)

    def _next_message(self) -> snmp_ber.Message | None:
        try:
            return snmp_ber.decode(self._socket.recv(65535))
        except snmp_ber.BerError:
            return None

    def _keep_announcement(self, message: snmp_ber.Message) -> None:
        announced = ntcip.sample_ready_sequence(message)
        if announced is not None and message.community == self._community:
            self._announced = announced

    def wait_for_announcement(self, timeout_s: float, other_than: int | None) -> int | None:
        """The sequence of a sample-ready notification announcing a sample other than
        ``other_than``, or None if none arrives within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        request_timeout = self._socket.gettimeout()
        try:
            while self._announced is None or self._announced == other_than:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._socket.settimeout(remaining)
                try:
                    message = self._next_message()
                except TimeoutError:
                    return None
                if message is not None:
                    self._keep_announcement(message)
        except ConnectionRefusedError:
            return None  # the next request reports it
        finally:
            self._socket.settimeout(request_timeout)
        announced, self._announced = self._announced, None
        return announced

    def close(self) -> None:
        self._socket.close()


class _V3Transport:
    """SNMPv3 (authPriv: HMAC-SHA-256 + AES-128) through pysnmp's engine on a private event loop."""

    def __init__(self, host: str, port: int, credentials: SnmpCredentials, timeout_s: float, retries: int):
        from pysnmp.hlapi.v3arch import asyncio as hlapi

        self._hlapi = hlapi
        self._where = f"{host}:{port}"
        self._loop = asyncio.new_event_loop()
        self._engine = hlapi.SnmpEngine()
        self._user = hlapi.UsmUserData(
            credentials.user,
            credentials.auth_key,
            credentials.priv_key,
            authProtocol=hlapi.usmHMAC192SHA256AuthProtocol,
            privProtocol=hlapi.usmAesCfb128Protocol,
        )
        self._target = self._loop.run_until_complete(
            hlapi.UdpTransportTarget.create((host, port), timeout=timeout_s, retries=retries)
        )

    def request(self, kind: str, var_binds: list[tuple[tuple[int, ...], object]]) -> list[tuple]:
        h = self._hlapi
        objects = [
            h.ObjectType(h.ObjectIdentity(oid))
            if v is None
            else h.ObjectType(h.ObjectIdentity(oid), h.Integer(v))
            for oid, v in var_binds
        ]
        command = h.get_cmd if kind == "get" else h.set_cmd
        indication, status, _, answer = self._loop.run_until_complete(
            command(self._engine, self._user, self._target, h.ContextData(), *objects, lookupMib=False)
        )
        if indication:
            raise ControllerUnreachable(
                f"{self._where}: {indication} (check the address, the SNMPv3 user and its keys)"
            )
        if status:
            raise ControllerUnreachable(
                f"{self._where} refused the {kind}: SNMP error {status.prettyPrint()}"
            )
        return [(tuple(oid), _plain(value)) for oid, value in answer]

    def wait_for_announcement(self, timeout_s: float, other_than: int | None) -> int | None:
        """Notifications are not received over SNMPv3 here: wait, then let the caller poll."""
        time.sleep(timeout_s)
        return None

    def close(self) -> None:
        self._engine.close_dispatcher()
        self._loop.close()


def _plain(value: object) -> int | bytes | None:
    """A pysnmp value as the Python value ``snmp_ber`` decodes it to."""
    from pyasn1.type import univ

    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString) and not isinstance(value, univ.Null):  # noSuchObject is a Null
        return bytes(value)
    return None


class NtcipClient:
    """Synchronous NTCIP 1202 client for one signal controller (one intersection)."""

    def __init__(
        self,
        host: str,
        port: int,
        credentials: SnmpCredentials | None = None,
        timeout_s: float = 1.0,
        retries: int = 1,
    ):
        credentials = credentials or SnmpCredentials()
        self.notifies = False  # whether the controller was seen to send sample-ready notifications
        if credentials.version == "2c":
            self._transport: _V2cTransport | _V3Transport = _V2cTransport(
                host, port, credentials.community, timeout_s, retries
            )
        elif credentials.version == "3":
            self._transport = _V3Transport(host, port, credentials, timeout_s, retries)
        else:
            raise ValueError(f"SNMP version {credentials.version!r}: expected '2c' or '3'")
        try:
            self.n_phases, self.n_detectors = self.get([ntcip.MAX_PHASES, ntcip.MAX_VEHICLE_DETECTORS])
        except ControllerUnreachable:
            self._transport.close()
            raise
        detectors = range(1, self.n_detectors + 1)
        self._poll = [ntcip.VOLUME_OCCUPANCY_SEQUENCE, ntcip.VOLUME_OCCUPANCY_PERIOD]
        self._poll += [(*ntcip.PHASE_STATUS_GREENS, 1), (*ntcip.PHASE_STATUS_YELLOWS, 1)]
        self._poll += [(*ntcip.PHASE_STATUS_ON, 1), ntcip.STAGE_TIME]
        for column in (ntcip.DETECTOR_VEHICLES, ntcip.DETECTOR_QUEUE):
            self._poll += [(*column, d) for d in detectors]

    def get(self, oids: list[tuple[int, ...]]) -> list[int]:
        """Integer values of the given object instances."""
        answer = self._transport.request("get", [(oid, None) for oid in oids])
        values = []
        for oid, value in answer:
            if not isinstance(value, int):
                raise ControllerUnreachable(f"the controller has no object {ntcip.oid_text(oid)}")
            values.append(int(value))
        return values

    def get_text(self, oids: list[tuple[int, ...]]) -> list[str]:
        """OCTET STRING values of the given object instances, as text."""
        answer = self._transport.request("get", [(oid, None) for oid in oids])
        values = []
        for oid, value in answer:
            if not isinstance(value, bytes):
                raise ControllerUnreachable(f"the controller has no object {ntcip.oid_text(oid)}")
            values.append(value.decode(errors="replace"))
        return values

    def intersection_id(self) -> str:
        """The controller's sysName: the intersection it controls."""
        return self.get_text([ntcip.SYS_NAME])[0]

    def cabinet(self) -> CabinetIntersection:
        """The controller's own phase table and timing, as it reports them (phaseLinkStates,
        phaseMinimumGreen, phaseMaximum1, phaseYellowChange, phaseRedClear of every phase). A
        controller may time its phases differently; one TimingConfig holds the longest of each."""
        phases = range(1, self.n_phases + 1)
        states = self.get_text([(*ntcip.PHASE_LINK_STATES, p) for p in phases])
        columns = (
            ntcip.PHASE_MIN_GREEN,
            ntcip.PHASE_MAX_GREEN,
            ntcip.PHASE_YELLOW_CHANGE,
            ntcip.PHASE_RED_CLEAR,
        )
        values = self.get([(*column, p) for column in columns for p in phases])
        n = self.n_phases
        min_green, max_green, yellow, red = (max(values[i * n : (i + 1) * n]) for i in range(len(columns)))
        try:
            timing = TimingConfig(
                yellow_time=yellow / 10, red_clearance=red / 10, min_green=min_green, max_green=max_green
            )
        except ValueError as error:
            raise ControllerUnreachable(f"the controller reports impossible timing: {error}") from None
        return CabinetIntersection(tuple(states), timing)

    def set(self, assignments: list[tuple[tuple[int, ...], int]]) -> None:
        """Write integer values in one SET request (the controller applies all or none)."""
        self._transport.request("set", list(assignments))

    def read(self) -> ControllerReading:
        """Poll the sample sequence, the signal status and what a policy observes of every detector
        (vehicles and queue) in one GET."""
        values = self.get(self._poll)
        sequence, period, greens, yellows, phase_on, stage_time = values[:6]
        n = self.n_detectors
        columns = [values[6 + i * n : 6 + (i + 1) * n] for i in range(2)]
        return ControllerReading(
            sequence=sequence,
            period_s=period,
            greens=ntcip.mask_phases(greens),
            yellows=ntcip.mask_phases(yellows),
            phase_on=(ntcip.mask_phases(phase_on) or [0])[0],
            stage_time_s=stage_time / 10,
            vehicles=columns[0],
            queue=[v / ntcip.QUEUE_SCALE for v in columns[1]],
        )

    def sequence(self) -> int:
        """The controller's volumeOccupancySequence: it changes when a new detector sample is ready."""
        return self.get([ntcip.VOLUME_OCCUPANCY_SEQUENCE])[0]

    def wait_for_sample(self, last_sequence: int | None, poll_interval_s: float) -> int:
        """The controller's sample sequence, after waiting for it to differ from ``last_sequence``:
        until a sample-ready notification announces a new sample, or at most ``poll_interval_s``,
        then by a poll. Once the controller has been seen to notify (``self.notifies``), the poll is
        only the safety net for a lost notification and waits ``NOTIFIED_POLL_S`` instead."""
        if last_sequence is None:
            return self.sequence()
        wait = max(poll_interval_s, NOTIFIED_POLL_S) if self.notifies else poll_interval_s
        announced = self._transport.wait_for_announcement(wait, other_than=last_sequence)
        if announced is not None:
            self.notifies = True
            return announced
        return self.sequence()

    def call_phases(self) -> list[int]:
        """Per detector, the phase its lane is served in (vehicleDetectorCallPhase)."""
        return self.get([(*ntcip.DETECTOR_CALL_PHASE, d) for d in range(1, self.n_detectors + 1)])

    def command_green(self, phase: int) -> None:
        """Ask for ``phase`` (1-based) as the green: hold it and omit every other phase; if another
        phase is green, force it off and place a vehicle call on ``phase``. The controller's own
        timing still decides when the change happens (minimum green, yellow, red clearance)."""
        if not 1 <= phase <= self.n_phases:
            raise ValueError(f"phase {phase} is not one of the controller's phases 1..{self.n_phases}")
        others = ntcip.phase_mask(p for p in range(1, self.n_phases + 1) if p != phase)
        wanted = ntcip.phase_mask([phase])
        self.set(
            [
                ((*ntcip.PHASE_CONTROL_HOLD, 1), wanted),
                ((*ntcip.PHASE_CONTROL_FORCE_OFF, 1), others),
                ((*ntcip.PHASE_CONTROL_VEH_CALL, 1), wanted),
                ((*ntcip.PHASE_CONTROL_OMIT, 1), others),
            ]
        )

    def close(self) -> None:
        self._transport.close()
