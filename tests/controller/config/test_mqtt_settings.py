"""``[mqtt]``: login, TLS, and no password in the configuration (its text goes into the log)."""

from __future__ import annotations

import tomllib

import pytest

from controller.config.loader import build_config
from tests.controller.config.test_loader import BASE_TOML, Data, only_problem


@pytest.fixture
def cfg() -> Data:
    return tomllib.loads(BASE_TOML)


def test_a_password_in_the_configuration_is_refused(cfg: Data) -> None:
    cfg["mqtt"] = {"host": "broker", "password": "change-me"}
    key, message = only_problem(cfg)
    assert key == "mqtt.password" and "credentials file" in message


def test_tls_settings_are_read(cfg: Data) -> None:
    cfg["mqtt"] = {"port": 8883, "tls": True, "ca_file": "/etc/hallctl/ca.crt"}
    mqtt = build_config(cfg).mqtt
    assert (mqtt.port, mqtt.tls, mqtt.ca_file, mqtt.password) == (
        8883,
        True,
        "/etc/hallctl/ca.crt",
        "",
    )
    assert mqtt.login and mqtt.username == ""  # c/{hall} by default


def test_tls_files_without_tls_are_refused(cfg: Data) -> None:
    cfg["mqtt"] = {"ca_file": "/etc/hallctl/ca.crt"}
    key, message = only_problem(cfg)
    assert key == "mqtt.ca_file" and "tls = true" in message


def test_a_client_certificate_needs_its_key(cfg: Data) -> None:
    cfg["mqtt"] = {"tls": True, "cert_file": "/etc/hallctl/c.crt"}
    key, message = only_problem(cfg)
    assert key == "mqtt.key_file" and "together" in message
