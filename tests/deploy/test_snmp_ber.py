"""The runtime's SNMPv2c codec against pysnmp's (pyasn1) on random messages, and on random bytes."""

from __future__ import annotations

import pytest
from ernie_deploy import ntcip, snmp_ber
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
PDUS = {snmp_ber.GET: V2C.GetRequestPDU, snmp_ber.SET: V2C.SetRequestPDU, snmp_ber.RESPONSE: V2C.ResponsePDU}

oids = st.tuples(st.integers(0, 1), st.integers(0, 39), st.lists(st.integers(0, 2**32 - 1), max_size=14)).map(
    lambda t: (t[0], t[1], *t[2])
)
UNSIGNED = {
    snmp_ber.Counter32: V2C.Counter32,
    snmp_ber.Gauge32: V2C.Gauge32,
    snmp_ber.TimeTicks: V2C.TimeTicks,
}
values = st.one_of(
    st.none(),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(max_size=40),
    st.builds(lambda kind, n: kind(n), st.sampled_from(sorted(UNSIGNED, key=str)), st.integers(0, 2**32 - 1)),
)
messages = st.builds(
    snmp_ber.Message,
    version=st.just(snmp_ber.SNMP_V2C),
    community=st.binary(min_size=1, max_size=20),
    pdu_tag=st.sampled_from(sorted(PDUS)),
    request_id=st.integers(-(2**31), 2**31 - 1),
    error_status=st.integers(0, 18),
    error_index=st.integers(0, 1),  # pysnmp refuses an index beyond the bindings
    var_binds=st.lists(st.tuples(oids, values), min_size=1, max_size=40),
)


def _pyasn1(message: snmp_ber.Message) -> bytes:
    pdu = PDUS[message.pdu_tag]()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, message.request_id)
    V2C.apiPDU.set_error_status(pdu, message.error_status)
    V2C.apiPDU.set_error_index(pdu, message.error_index)
    as_pyasn1 = {type(None): V2C.Null, int: V2C.Integer, bytes: V2C.OctetString, **UNSIGNED}
    V2C.apiPDU.set_varbinds(
        pdu, [(oid, as_pyasn1[type(v)](v if v is not None else "")) for oid, v in message.var_binds]
    )
    wire = V2C.Message()
    V2C.apiMessage.set_defaults(wire)
    V2C.apiMessage.set_community(wire, message.community)
    V2C.apiMessage.set_pdu(wire, pdu)
    return encoder.encode(wire)


def _from_pyasn1(wire: bytes) -> snmp_ber.Message:
    decoded, rest = decoder.decode(wire, asn1Spec=V2C.Message())
    assert rest == b""
    pdu = V2C.apiMessage.get_pdu(decoded)
    binds = []
    for oid, value in V2C.apiPDU.get_varbinds(pdu):
        unsigned = [ours for ours, theirs in UNSIGNED.items() if isinstance(value, theirs)]
        if isinstance(value, V2C.Null):
            plain = None
        elif unsigned:
            plain = unsigned[0](int(value))
        else:
            plain = int(value) if isinstance(value, V2C.Integer) else bytes(value)
        binds.append((tuple(oid), plain))
    return snmp_ber.Message(
        int(decoded["version"]),
        bytes(V2C.apiMessage.get_community(decoded)),
        0xA0 | pdu.tagSet[0][2],  # context-specific, constructed, the PDU number
        int(V2C.apiPDU.get_request_id(pdu)),
        int(V2C.apiPDU.get_error_status(pdu)),
        int(V2C.apiPDU.get_error_index(pdu)),
        binds,
    )


@settings(max_examples=200, deadline=None)
@given(message=messages)
def test_each_codec_decodes_what_the_other_encodes(message):
    for decoded in (_from_pyasn1(snmp_ber.encode(message)), snmp_ber.decode(_pyasn1(message))):
        assert decoded == message
        assert [type(v) for _, v in decoded.var_binds] == [type(v) for _, v in message.var_binds]


@settings(max_examples=300, deadline=None)
@given(message=messages, cut=st.integers(0, 400), noise=st.binary(max_size=300))
def test_broken_or_random_bytes_raise_ber_error_only(message, cut, noise):
    wire = snmp_ber.encode(message)
    for data in (wire[:cut] if cut < len(wire) else wire + b"\x00", noise):
        with pytest.raises(snmp_ber.BerError):
            snmp_ber.decode(data)


def test_sample_ready_notification_is_a_standard_snmpv2_trap():
    message = snmp_ber.Message(
        snmp_ber.SNMP_V2C, b"public", snmp_ber.TRAP, 7, 0, 0, ntcip.sample_ready(12.345, 42)
    )
    decoded, rest = decoder.decode(snmp_ber.encode(message), asn1Spec=V2C.Message())
    pdu = V2C.apiMessage.get_pdu(decoded)
    assert rest == b"" and isinstance(pdu, V2C.SNMPv2TrapPDU)
    (uptime_oid, uptime), (trap_oid, kind), (sequence_oid, sequence) = V2C.apiPDU.get_varbinds(pdu)
    assert (tuple(uptime_oid), tuple(trap_oid), tuple(sequence_oid)) == (
        ntcip.SYS_UP_TIME,
        ntcip.SNMP_TRAP_OID,
        ntcip.VOLUME_OCCUPANCY_SEQUENCE,
    )
    assert isinstance(uptime, V2C.TimeTicks) and int(uptime) == 1234
    assert isinstance(kind, V2C.ObjectIdentifier) and tuple(kind) == ntcip.SAMPLE_READY
    assert int(sequence) == 42
    assert ntcip.sample_ready_sequence(snmp_ber.decode(snmp_ber.encode(message))) == 42
    assert ntcip.sample_ready_sequence(message._replace(pdu_tag=snmp_ber.RESPONSE)) is None
