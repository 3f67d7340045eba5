"""The command line: one module per hallctl sub-command.

hallctl.py parses the line and dispatches. The demo, bench and simulate commands are the only
product code that imports the simulator.
"""
