"""Client ids and the broker's files: disjoint ids, Mosquitto-compatible hashes, the ACL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.mqtt.broker_access import check_password, hash_password, render_acl
from devices.mqtt.credentials import CredentialsError, CredentialStore
from devices.mqtt.identity import Identity, parse_client_id
from firmware_protocols import mqtt_v1 as proto

ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(hall=ids, other_hall=ids, device=ids)
def test_a_device_id_is_never_a_controller_id(hall: str, other_hall: str, device: str) -> None:
    device_id = Identity(hall, device).client_id
    assert device_id != Identity(other_hall).client_id
    assert parse_client_id(device_id) == Identity(hall, device)
    assert parse_client_id(Identity(other_hall).client_id) == Identity(other_hall)


def test_the_collision_of_issue_11_is_gone() -> None:
    # Old scheme: device "town" of hall "baishi" was "hallctl-baishi-town", hall
    # "baishi-town"'s controller too.
    assert Identity("baishi", "town").client_id == "d/baishi/town"
    assert Identity("baishi-town").client_id == "c/baishi-town"


@pytest.mark.parametrize("bad", ["", "a/b", "a b", "x" * 65, "c/"])
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(proto.TopicError):
        Identity(bad)
    with pytest.raises(proto.TopicError):
        parse_client_id(bad)


def test_hashes_match_mosquitto_passwd_both_ways(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "u", "s3cret"], check=True)
    theirs = passwd.read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$") and check_password("s3cret", theirs)
    assert not check_password("s3cret!", theirs)
    ours = hash_password("s3cret")
    assert check_password("s3cret", ours) and not check_password("other", ours)
    assert not check_password("s3cret", "$6$not-ours")


def test_the_acl_gives_each_user_only_its_own_topics() -> None:
    acl = render_acl([Identity("h1", "k1"), Identity("h1")])
    assert acl.split("\n\n")[1:] == [
        "user c/h1\n"
        "topic readwrite hallctl/v1/h1/controller/status\n"
        "topic read hallctl/v1/h1/dev/+/up\n"
        "topic read hallctl/v1/h1/dev/+/status\n"
        "topic write hallctl/v1/h1/dev/+/down",
        "user d/h1/k1\n"
        "topic write hallctl/v1/h1/dev/k1/up\n"
        "topic readwrite hallctl/v1/h1/dev/k1/status\n"
        "topic read hallctl/v1/h1/dev/k1/down\n"
        "topic read hallctl/v1/h1/controller/status\n",
    ]


def test_a_broken_credentials_file_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hall.db.mqtt-credentials"
    for text in ("not json", '{"version": 2, "halls": {}}', '{"version": 1, "halls": {"h": {'
                 '"controller": "x", "devices": {"k1": "plain"}}}}'):  # fmt: skip
        path.write_text(text)
        with pytest.raises(CredentialsError):
            CredentialStore.load(path)
        assert path.read_text() == text
    with pytest.raises(CredentialsError):
        CredentialStore.load(tmp_path / "missing").controller_password("h")
