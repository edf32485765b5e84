"""The SNMP agent of one virtual controller, over real UDP on loopback: what it answers, what it
refuses, and that no datagram can crash it."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time

import pytest
from ernie_deploy import ntcip, snmp_ber
from ernie_deploy.snmp_client import ControllerUnreachable, NtcipClient, SnmpCredentials
from hil_support import AgentInThread, free_port_block
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from ernie_traffic.hil.config import SnmpSettings

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def _client(agent: AgentInThread, community: str = "s3cret", timeout_s: float = 1.0) -> NtcipClient:
    return NtcipClient("127.0.0.1", agent.port, SnmpCredentials(community=community), timeout_s=timeout_s)


def _set_request(community: str, var_binds: list) -> bytes:
    pdu = V2C.SetRequestPDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_varbinds(pdu, var_binds)
    message = V2C.Message()
    V2C.apiMessage.set_defaults(message)
    V2C.apiMessage.set_community(message, community)
    V2C.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def test_reads_describe_the_intersection_and_its_signals(agent_v2c):
    client = _client(agent_v2c)
    controller = agent_v2c.controller
    assert (client.n_phases, client.n_detectors) == (2, len(controller.intersection.incoming_lanes))
    reading = client.read()
    assert reading.greens == [1] and reading.yellows == [] and reading.phase_on == 1
    assert reading.sequence == 0 and reading.period_s == 5
    assert sorted(set(client.call_phases())) == [1, 2]  # each lane of A0 is served by one of the two phases
    yellow, red = client.get([(*ntcip.PHASE_YELLOW_CHANGE, 1), (*ntcip.PHASE_RED_CLEAR, 2)])
    assert (yellow, red) == (30, 20)  # tenths of a second
    client.close()


def test_command_sets_control_registers_and_the_controller_follows_them(agent_v2c):
    client = _client(agent_v2c)
    controller = agent_v2c.controller
    client.command_green(2)
    assert controller.commands == 1 and controller.remote
    assert (controller.control.hold, controller.control.force_off) == (0b10, 0b01)
    assert (controller.control.veh_call, controller.control.omit) == (0b10, 0b01)
    assert controller.wanted_green() == 1
    client.command_green(1)
    assert controller.wanted_green() == 0
    client.close()


def test_a_new_sample_is_announced_to_the_runtime_without_polling(agent_v2c):
    client = _client(agent_v2c)
    assert client.wait_for_sample(None, poll_interval_s=0.002) == 0 and not client.notifies
    threading.Timer(0.2, agent_v2c.publish_sample).start()
    started = time.monotonic()
    # A poll would come only after 5 s: the notification wakes the client long before.
    assert client.wait_for_sample(0, poll_interval_s=5.0) == 1
    assert time.monotonic() - started < 2.0 and client.notifies
    # An announcement that arrives while the client waits for an answer is kept, not lost.
    agent_v2c.publish_sample()
    time.sleep(0.1)
    assert client.read().sequence == 2
    started = time.monotonic()
    assert client.wait_for_sample(1, poll_interval_s=5.0) == 2
    assert time.monotonic() - started < 0.1
    client.close()


def test_invalid_sets_are_refused_whole_and_change_nothing(agent_v2c):
    client = _client(agent_v2c)
    controller = agent_v2c.controller
    hold = (*ntcip.PHASE_CONTROL_HOLD, 1)
    with pytest.raises(ControllerUnreachable, match="wrongValue"):
        client.set([(hold, 2), ((*ntcip.PHASE_CONTROL_OMIT, 1), 300)])
    with pytest.raises(ControllerUnreachable, match="notWritable"):
        client.set([(hold, 2), ((*ntcip.PHASE_STATUS_GREENS, 1), 2)])
    with pytest.raises(ControllerUnreachable, match="has no object"):
        client.get([(*ntcip.ASC, 99, 1, 0)])
    assert controller.control.hold == 0 and controller.commands == 0
    client.close()


@pytest.mark.parametrize("kind", [snmp_ber.Gauge32, snmp_ber.Counter32, snmp_ber.TimeTicks])
def test_a_set_of_an_unsigned_type_on_an_integer_object_is_wrong_type(agent_v2c, kind):
    client = _client(agent_v2c)
    hold = (*ntcip.PHASE_CONTROL_HOLD, 1)
    with pytest.raises(ControllerUnreachable, match="wrongType"):
        client.set([(hold, kind(2))])
    with pytest.raises(ControllerUnreachable, match="wrongType"):  # one bad binding refuses the whole SET
        client.set([((*ntcip.PHASE_CONTROL_OMIT, 1), 1), (hold, kind(2))])
    assert agent_v2c.controller.control.hold == 0 and agent_v2c.controller.control.omit == 0
    assert agent_v2c.controller.commands == 0
    client.command_green(2)  # the same registers as INTEGERs are accepted
    assert agent_v2c.controller.control.hold == 0b10
    client.close()


def _undecodable_datagrams(count: int, seed: int) -> list[bytes]:
    """Half random bytes that do not start a BER SEQUENCE, half valid GETs and SETs cut short."""
    rng = random.Random(seed)
    get = snmp_ber.encode(snmp_ber.Message(1, b"s3cret", snmp_ber.GET, 1, 0, 0, [(ntcip.SYS_NAME, None)]))
    hold = (*ntcip.PHASE_CONTROL_HOLD, 1)
    set_ = snmp_ber.encode(snmp_ber.Message(1, b"s3cret", snmp_ber.SET, 2, 0, 0, [(hold, 1)]))
    datagrams = []
    for i in range(count):
        if i % 2:
            whole = get if i % 4 == 1 else set_
            datagrams.append(whole[: rng.randrange(1, len(whole))])
        else:
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            datagrams.append(bytes([rng.choice([b for b in range(256) if b != 0x30])]) + noise)
    return datagrams


def test_undecodable_datagrams_are_counted_and_summarised_not_printed(caplog, capfd):
    agent = AgentInThread(SnmpSettings(community="s3cret"))
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagrams = _undecodable_datagrams(2000, seed=0)
    with caplog.at_level(logging.WARNING):
        for start in range(0, len(datagrams), 100):  # in batches, so that no datagram is lost on the way
            for datagram in datagrams[start : start + 100]:
                attacker.sendto(datagram, ("127.0.0.1", agent.port))
            deadline = time.monotonic() + 10
            while agent.agent.undecodable < start + 100 and time.monotonic() < deadline:
                time.sleep(0.01)
        attacker.close()
        assert agent.agent.undecodable == len(datagrams)
        client = _client(agent)
        assert client.intersection_id() == "A0"  # still answering
        assert client.read().sequence == 0
        client.close()
        agent.close()
    assert agent.agent.undecodable == len(datagrams)
    lines = [r.getMessage() for r in caplog.records if r.name == "ernie_traffic.hil.agent"]
    assert 1 <= len(lines) <= 2, lines  # the first one at once, the rest summarised at close
    assert f"({len(datagrams)} in all)" in lines[-1]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text and "Exception in callback" not in caplog.text
    assert "Traceback" not in capfd.readouterr().err


def test_malformed_datagrams_do_not_crash_the_agent(agent_v2c):
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hold = (*ntcip.PHASE_CONTROL_HOLD, 1)
    garbage = [
        b"",
        b"\x00",
        b"\x30\x82\xff\xff" + b"\x00" * 10,  # length beyond the datagram
        b"\x30\x03\x02\x01",  # truncated
        bytes(range(256)),
        _set_request("s3cret", [(hold, V2C.OctetString("two"))])[:-3],  # cut mid-value
        _set_request("s3cret", [(hold, V2C.OctetString("two"))]),  # wrong type: SNMP error reply
        _set_request("s3cret", [((1, 3), V2C.Integer(1))] * 300),  # many bindings for no object
    ]
    for datagram in garbage:
        attacker.sendto(datagram, ("127.0.0.1", agent_v2c.port))
    attacker.close()
    client = _client(agent_v2c)
    assert client.read().greens == [1]
    assert agent_v2c.controller.control.hold == 0
    client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(datagram=st.binary(min_size=0, max_size=300))
def test_random_datagrams_do_not_crash_the_agent(agent_v2c, datagram):
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.sendto(datagram, ("127.0.0.1", agent_v2c.port))
    attacker.close()
    client = _client(agent_v2c)
    assert client.sequence() == 0
    client.close()


def test_wrong_community_and_wrong_port_fail_with_clear_messages(agent_v2c):
    with pytest.raises(ControllerUnreachable, match="community string is wrong"):
        _client(agent_v2c, community="public", timeout_s=0.3)
    closed_port = free_port_block(1)
    with pytest.raises(ControllerUnreachable, match=f"nothing is listening at 127.0.0.1:{closed_port}"):
        NtcipClient("127.0.0.1", closed_port, SnmpCredentials(community="s3cret"), timeout_s=0.3)


def test_snmpv3_auth_priv_works_and_wrong_keys_are_refused():
    keys = {"user": "cabinet", "auth_key": "auth-pass-1", "priv_key": "priv-pass-1"}
    agent = AgentInThread(SnmpSettings(version="3", **keys))
    try:
        good = NtcipClient("127.0.0.1", agent.port, SnmpCredentials(version="3", **keys))
        good.command_green(2)
        assert agent.controller.control.hold == 0b10 and good.read().greens == [1]
        good.close()
        wrong = SnmpCredentials(version="3", **(keys | {"auth_key": "not-the-key"}))
        with pytest.raises(ControllerUnreachable, match="SNMPv3 user"):
            NtcipClient("127.0.0.1", agent.port, wrong, timeout_s=0.5, retries=0)
        # SNMPv2c is not accepted by an SNMPv3-only agent.
        with pytest.raises(ControllerUnreachable):
            NtcipClient(
                "127.0.0.1", agent.port, SnmpCredentials(community="public"), timeout_s=0.3, retries=0
            )
    finally:
        agent.close()
