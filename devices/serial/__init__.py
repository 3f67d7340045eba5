"""RS-485 and point-to-point serial transports: the port, the bus master, protocol adapters.

Layers (each its own module): ``line`` (line settings and wire time, pure), ``port`` (opening a
tty with pyserial-asyncio-fast), ``adapter`` (what the bus master needs from a protocol),
``adapters/`` (one per codec in firmware_protocols), ``stats`` and ``bus`` (the master that
owns one port). Device drivers attach to a ``BusMaster`` through a ``BusListener``.
"""
