"""The process around the halls, started and stopped in order.

Each hall's single writer (runtime), the lock on its log, its clock, its device
links, the JSON log lines, and the start and stop order (process).
"""
