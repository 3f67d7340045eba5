"""The pure hall core: a command and the time in, events out.

The state is the fold of the events. No I/O and no clock: nothing here imports asyncio,
sockets, SQLite or HTTP or reads the time, so a replay or a test reproduces every decision (an
import-linter contract keeps it so). Of the rest of the controller it sees only the
configuration models.
"""
