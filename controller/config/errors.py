"""What a bad hall configuration reports.

Hall staff edit these files by hand, often with several mistakes at once; fixing them one
error per run is slow. The loader therefore collects every problem it finds and raises one
``ConfigError`` holding them all, each pointing at a key with the same dotted-path convention
(``windows[2].services[0].service``, ``hall.closing_time``; list positions count from 0).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One mistake: where it is and what is expected instead.

    ``key`` is the dotted path of the offending key; it is empty for problems about the file
    as a whole (unreadable, TOML syntax), in which case ``line``/``column`` may say where.
    """

    file: str
    key: str
    message: str
    line: int | None = None
    column: int | None = None

    @property
    def location(self) -> str:
        """The part between file name and message: the key path, else a line position.

        Empty for problems with the file as a whole (it could not be read).
        """
        if self.key:
            return self.key
        if self.line is not None and self.column is not None:
            return f"line {self.line}, column {self.column}"
        if self.line is not None:
            return f"line {self.line}"
        return ""

    def __str__(self) -> str:
        if not self.location:
            return f"{self.file}: {self.message}"
        return f"{self.file}: {self.location}: {self.message}"


class ConfigError(Exception):
    """The configuration was rejected; ``problems`` lists every mistake found (never empty)."""

    def __init__(self, problems: tuple[ConfigProblem, ...] | list[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__(format_problems(self))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[tuple[ConfigProblem, ...]]]:
        return (type(self), (self.problems,))


def format_problems(error: ConfigError) -> str:
    """The text ``hallctl check-config`` prints: one ``FILE: KEY: MESSAGE`` line per problem."""
    return "\n".join(str(problem) for problem in error.problems)
