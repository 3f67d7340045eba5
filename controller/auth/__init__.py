"""Accounts, sessions, API tokens and the audit trail of the operations console.

Everything here is kept as events in a dedicated stream of the hall store (``ACCESS_STREAM``),
so accounts survive restarts and every action is on the same durable log as the halls.
"""
