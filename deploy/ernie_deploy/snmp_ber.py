"""BER encoding and decoding of SNMPv2c messages (RFC 3416), just what NTCIP polling needs.

pysnmp's pyasn1 codec builds a typed object per value and dominated the decision round trip; these
few functions work on bytes and Python values. A message is ``(version, community, pdu_tag,
request_id, error_status, error_index, var_binds)`` with ``var_binds`` a list of ``(oid, value)``:
``oid`` a tuple of ints, ``value`` an ``int`` (INTEGER), a :class:`Counter32`, :class:`Gauge32` or
:class:`TimeTicks` (``int`` subclasses, so that an agent can tell them from INTEGER), ``bytes``
(OCTET STRING), an :class:`ObjectName` (OBJECT IDENTIFIER) or ``None`` (NULL, noSuchObject,
noSuchInstance, endOfMibView). Anything else, and any datagram that is not exactly one well-formed
message, raises :class:`BerError`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

SNMP_V2C = 1
GET, GET_NEXT, RESPONSE, SET, GET_BULK, TRAP = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA7
NO_SUCH_OBJECT = 0x80

_INTEGER, _OCTET_STRING, _NULL, _OID, _SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
_ABSENT = frozenset({_NULL, 0x80, 0x81, 0x82})  # NULL, noSuchObject, noSuchInstance, endOfMibView
_PDUS = frozenset({GET, GET_NEXT, RESPONSE, SET, GET_BULK, TRAP})

# RFC 3416 error-status names, as pysnmp prints them.
ERROR_NAMES = [
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
]


class ObjectName(tuple):
    """An OBJECT IDENTIFIER value (e.g. a notification's snmpTrapOID), as opposed to an OID key."""


class Unsigned32(int):
    """An unsigned 32-bit application type; ``TAG`` is its BER tag."""

    TAG = 0


class Counter32(Unsigned32):
    TAG = 0x41


class Gauge32(Unsigned32):
    TAG = 0x42


class TimeTicks(Unsigned32):
    """Hundredths of a second (e.g. sysUpTime)."""

    TAG = 0x43


_UNSIGNED = {kind.TAG: kind for kind in (Counter32, Gauge32, TimeTicks)}


Value = int | bytes | ObjectName | None


class BerError(ValueError):
    """The bytes are not one SNMPv2c message this codec understands."""


class Message(NamedTuple):
    version: int
    community: bytes
    pdu_tag: int
    request_id: int
    error_status: int
    error_index: int
    var_binds: list[tuple[tuple[int, ...], Value]]


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _integer(value: int) -> bytes:
    size = (value + (value < 0)).bit_length() // 8 + 1
    return _tlv(_INTEGER, value.to_bytes(size, "big", signed=True))


# A controller's object instances are a few hundred OIDs, encoded and decoded on every request: both
# directions are memoised (bounded, so that random OIDs from a fuzzer cannot grow them without limit).
@lru_cache(maxsize=4096)
def _oid(oid: tuple[int, ...]) -> bytes:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise BerError(f"OID {oid} cannot be encoded")
    body = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _tlv(_OID, bytes(body))


def _value(value: Value, absent_tag: int) -> bytes:
    if value is None:
        return bytes((absent_tag, 0))
    if isinstance(value, bytes):
        return _tlv(_OCTET_STRING, value)
    if isinstance(value, ObjectName):
        return _oid(value)
    if isinstance(value, Unsigned32):
        if not 0 <= value < 1 << 32:
            raise BerError(f"{type(value).__name__} {value} out of range")
        return _tlv(value.TAG, value.to_bytes(value.bit_length() // 8 + 1, "big"))
    return _integer(value)


def encode(message: Message, absent_tag: int = _NULL) -> bytes:
    """The BER bytes of ``message``; ``None`` values become ``absent_tag`` (NULL in requests,
    noSuchObject in answers)."""
    binds = b"".join(_tlv(_SEQUENCE, _oid(oid) + _value(v, absent_tag)) for oid, v in message.var_binds)
    pdu = _integer(message.request_id) + _integer(message.error_status) + _integer(message.error_index)
    body = _integer(message.version) + _tlv(_OCTET_STRING, message.community)
    return _tlv(_SEQUENCE, body + _tlv(message.pdu_tag, pdu + _tlv(_SEQUENCE, binds)))


def _read(data: bytes, at: int, end: int) -> tuple[int, int, int]:
    """(tag, start of the contents, end of the contents) of the element at ``at``."""
    if at + 2 > end:
        raise BerError("truncated element")
    tag, size = data[at], data[at + 1]
    at += 2
    if size & 0x80:
        count = size & 0x7F
        if not 0 < count <= 3 or at + count > end:
            raise BerError("bad length")
        size = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + size > end:
        raise BerError("element longer than its container")
    return tag, at, at + size


def _expect(data: bytes, at: int, end: int, tag: int) -> tuple[int, int]:
    found, start, stop = _read(data, at, end)
    if found != tag:
        raise BerError(f"expected tag {tag:#x}, found {found:#x}")
    return start, stop


def _int_at(data: bytes, at: int, end: int) -> tuple[int, int]:
    start, stop = _expect(data, at, end, _INTEGER)
    if not 0 < stop - start <= 8:
        raise BerError("bad INTEGER size")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


@lru_cache(maxsize=4096)
def _decode_oid(body: bytes) -> tuple[int, ...]:
    if not body or body[-1] & 0x80:
        raise BerError("bad OID")
    arcs, arc = [], 0
    for byte in body:
        arc = arc << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(arc)
            arc = 0
    first = min(arcs[0] // 40, 2)
    return (first, arcs[0] - 40 * first, *arcs[1:])


def _decode_value(tag: int, body: bytes) -> Value:
    if tag == _INTEGER:
        if not 0 < len(body) <= 8:
            raise BerError("bad INTEGER size")
        return int.from_bytes(body, "big", signed=True)
    if tag in _UNSIGNED:
        if not 0 < len(body) <= 5 or int.from_bytes(body, "big") >> 32:
            raise BerError(f"bad {_UNSIGNED[tag].__name__}")
        return _UNSIGNED[tag](int.from_bytes(body, "big"))
    if tag == _OCTET_STRING:
        return bytes(body)
    if tag == _OID:
        return ObjectName(_decode_oid(body))
    if tag in _ABSENT:
        return None
    raise BerError(f"value type {tag:#x} not supported")


def decode(data: bytes) -> Message:
    """The SNMPv2c message in ``data`` (exactly one, nothing after it)."""
    start, end = _expect(data, 0, len(data), _SEQUENCE)
    if end != len(data):
        raise BerError("bytes after the message")
    version, at = _int_at(data, start, end)
    c_start, at = _expect(data, at, end, _OCTET_STRING)
    community = data[c_start:at]
    pdu_tag, at, pdu_end = _read(data, at, end)
    if pdu_tag not in _PDUS or pdu_end != end:
        raise BerError("not an SNMP PDU")
    request_id, at = _int_at(data, at, pdu_end)
    error_status, at = _int_at(data, at, pdu_end)
    error_index, at = _int_at(data, at, pdu_end)
    at, binds_end = _expect(data, at, pdu_end, _SEQUENCE)
    if binds_end != pdu_end:
        raise BerError("bytes after the variable bindings")
    var_binds = []
    while at < binds_end:
        bind_start, bind_end = _expect(data, at, binds_end, _SEQUENCE)
        o_start, o_end = _expect(data, bind_start, bind_end, _OID)
        tag, v_start, v_end = _read(data, o_end, bind_end)
        if v_end != bind_end:
            raise BerError("bytes after a value")
        var_binds.append((_decode_oid(data[o_start:o_end]), _decode_value(tag, data[v_start:v_end])))
        at = bind_end
    return Message(version, community, pdu_tag, request_id, error_status, error_index, var_binds)
