"""好差评: rating records to the national data elements, 差评 cases, statistics, reporting upward.

The engine (``controller.engine``) decides ratings and case steps and records them in the hall's
log; everything in this package either feeds it pure rules (``workdays``) or reads the log
(``records``, ``stats``, ``export``, ``outbox``). See docs/haochaping.md.
"""
