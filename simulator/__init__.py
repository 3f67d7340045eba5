"""hallctl simulator: plays every MQTT device of a hall plus the people using them, over a real
broker and protocol v1, for demos, tests and load tests. Entry point: ``simulator.run``."""
