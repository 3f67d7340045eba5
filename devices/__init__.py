"""The device layer: MQTT and RS-485 drivers of the hall's devices.

Written against the hall port (controller/core/ports.py): it imports the core, the
configuration and the codecs, never the daemon shell.
"""
