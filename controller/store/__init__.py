"""The durable event log: interface, group commit, SQLite, memory.

It keeps records as bytes and knows nothing of what they mean.
"""
