"""Simulated serial devices on pseudo-terminals, for tests and benchmarks of the bus master.

``SimLine`` is the wire (a pty pair, byte timing at the baud rate, collisions); ``SimBus``
puts devices on it; one module per protocol holds the devices. The bus master opens
``SimBus.path`` exactly as it opens a real tty.
"""
