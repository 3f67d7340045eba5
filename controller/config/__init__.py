"""The hall configuration: one TOML file, checked into frozen models.

Every mistake is reported at once, each naming its key, for the staff who edit the file by
hand.
"""
