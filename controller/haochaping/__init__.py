"""好差评 services that do I/O, around the core's rating rules.

Rating records read from the log, statistics and exports, the keys, and the durable outbox
with its platform adapters. The rules themselves (ratings, 差评 cases, working-day deadlines,
case numbers) are the core's. See docs/haochaping.md.
"""
