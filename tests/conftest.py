"""Shared pytest plugins and fixtures."""

pytest_plugins = ["tests.mosquitto", "tests.pg"]
