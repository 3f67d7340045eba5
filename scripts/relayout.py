"""Move controller/ into one folder per layer, and rewrite every reference to the moved modules.

Issue 10. Run from the repository root on a clean work tree (``python scripts/relayout.py``);
it ``git mv``s the modules and tests of ``MOVES``, writes each layer folder's docstring, then
rewrites, in every tracked text file, imports (``from controller.state import``, ``from
controller import engine``), dotted names (``mock.patch("controller.runtime.x")``, ``-m
controller.cli``, ``controller.cli:main``) and paths (``controller/engine.py`` in the docs), and
``Path(__file__).parents[N]`` in every file it moved one folder deeper. Last, ruff re-sorts the
imports. Idempotent: a module already at its new place is left alone, a name already new is not
rewritten again, so running it twice changes nothing the second time.

It warns about what it does not know: modules still loose at the top of ``controller/`` and
test files loose at the top of ``tests/controller/`` (a branch merged after this script was
written may have added them): add them to ``MOVES`` and run it again.
"""

from __future__ import annotations

import ast
import io
import re
import shutil
import subprocess
import sys
import tokenize
import unicodedata
from pathlib import Path

MOVES: tuple[tuple[str, str], ...] = (
    # core: pure, command + time in, events out
    ("controller/commands.py", "controller/core/commands.py"),
    ("controller/events.py", "controller/core/events.py"),
    ("controller/lifecycle.py", "controller/core/lifecycle.py"),
    ("controller/policy.py", "controller/core/policy.py"),
    ("controller/queues.py", "controller/core/queues.py"),
    ("controller/state.py", "controller/core/state.py"),
    ("controller/engine.py", "controller/core/engine.py"),
    ("controller/queries.py", "controller/core/queries.py"),
    ("controller/ports.py", "controller/core/ports.py"),
    ("controller/answers.py", "controller/core/answers.py"),
    ("controller/haochaping/workdays.py", "controller/core/workdays.py"),
    ("controller/haochaping/case_numbers.py", "controller/core/case_numbers.py"),
    # daemon: the process around the halls
    ("controller/daemon.py", "controller/daemon/process.py"),
    ("controller/runtime.py", "controller/daemon/runtime.py"),
    ("controller/ownership.py", "controller/daemon/ownership.py"),
    ("controller/device_links.py", "controller/daemon/device_links.py"),
    ("controller/schedule.py", "controller/core/schedule.py"),
    ("controller/logs.py", "controller/daemon/logs.py"),
    # cli: one module per hallctl sub-command
    ("controller/cli.py", "controller/cli/hallctl.py"),
    ("controller/replay.py", "controller/cli/replay.py"),
    ("controller/demo.py", "controller/cli/demo.py"),
    ("controller/bench.py", "controller/cli/bench.py"),
    ("controller/auth/cli.py", "controller/cli/user.py"),
    ("controller/haochaping/report.py", "controller/cli/report.py"),
    ("controller/store_supervisor.py", "controller/daemon/store_supervisor.py"),
    ("controller/snapshots.py", "controller/daemon/snapshots.py"),
    # console: read models of what the staff see
    ("controller/history.py", "controller/console/history.py"),
    # http: everything served over HTTP
    ("controller/metrics.py", "controller/http/metrics.py"),
    ("controller/idempotency.py", "controller/http/idempotency.py"),
    # tests mirror the layout
    ("tests/controller/test_engine.py", "tests/controller/core/test_engine.py"),
    (
        "tests/controller/test_engine_properties.py",
        "tests/controller/core/test_engine_properties.py",
    ),
    ("tests/controller/test_lifecycle_doc.py", "tests/controller/core/test_lifecycle_doc.py"),
    ("tests/controller/test_policy_examples.py", "tests/controller/core/test_policy_examples.py"),
    ("tests/controller/haochaping/test_workdays.py", "tests/controller/core/test_workdays.py"),
    ("tests/controller/test_runtime.py", "tests/controller/daemon/test_runtime.py"),
    ("tests/controller/test_schedule.py", "tests/controller/core/test_schedule.py"),
    ("tests/controller/test_crash_recovery.py", "tests/controller/daemon/test_crash_recovery.py"),
    ("tests/controller/test_cli.py", "tests/controller/cli/test_hallctl.py"),
    ("tests/controller/test_demo.py", "tests/controller/cli/test_demo.py"),
    ("tests/controller/auth/test_cli.py", "tests/controller/cli/test_user.py"),
    ("tests/controller/test_days.py", "tests/controller/core/test_days.py"),
    ("tests/controller/test_answers.py", "tests/controller/core/test_answers.py"),
    ("tests/controller/test_days_stateful.py", "tests/controller/core/test_days_stateful.py"),
    ("tests/controller/test_soak_days.py", "tests/controller/daemon/test_soak_days.py"),
    ("tests/controller/test_snapshots.py", "tests/controller/daemon/test_snapshots.py"),
    (
        "tests/controller/test_store_supervisor.py",
        "tests/controller/daemon/test_store_supervisor.py",
    ),
    (
        "tests/controller/test_disk_full_daemon.py",
        "tests/controller/daemon/test_disk_full_daemon.py",
    ),
    (
        "tests/controller/test_idempotency_crash.py",
        "tests/controller/daemon/test_idempotency_crash.py",
    ),
    ("tests/controller/kill_after_commit.py", "tests/controller/daemon/kill_after_commit.py"),
    ("tests/controller/test_idempotency.py", "tests/controller/http/test_idempotency.py"),
)

PACKAGE_DOCS: dict[str, str] = {
    "controller": """The controller: one folder per layer (docs/architecture.md draws them).

core/ is the pure hall; store/ its durable log; config/ the hall's configuration; daemon/,
cli/, http/, console/, auth/ and haochaping/ the shell around them. The import-linter contracts
in pyproject.toml keep the order.""",
    "controller/core": """The pure hall core: a command and the time in, events out.

The state is the fold of the events. No I/O and no clock: nothing here imports asyncio,
sockets, SQLite or HTTP or reads the time, so a replay or a test reproduces every decision (an
import-linter contract keeps it so). Of the rest of the controller it sees only the
configuration models.""",
    "controller/store": """The durable event log: interface, group commit, SQLite, memory.

It keeps records as bytes and knows nothing of what they mean.""",
    "controller/config": """The hall configuration: one TOML file, checked into frozen models.

Every mistake is reported at once, each naming its key, for the staff who edit the file by
hand.""",
    "controller/daemon": """The process around the halls, started and stopped in order.

Each hall's single writer (runtime), the lock on its log, its clock, its device
links, the JSON log lines, and the start and stop order (process).""",
    "controller/cli": """The command line: one module per hallctl sub-command.

hallctl.py parses the line and dispatches. The demo, bench and simulate commands are the only
product code that imports the simulator.""",
    "controller/http": """Everything served over HTTP, in one aiohttp application.

The command API, access control, the console's pages and live feed, OpenAPI, voice and the
Prometheus metrics.""",
    "controller/haochaping": """好差评 services that do I/O, around the core's rating rules.

Rating records read from the log, statistics and exports, the keys, and the durable outbox
with its platform adapters. The rules themselves (ratings, 差评 cases, working-day deadlines,
case numbers) are the core's. See docs/haochaping.md.""",
    "devices": """The device layer: MQTT and RS-485 drivers of the hall's devices.

Written against the hall port (controller/core/ports.py): it imports the core, the
configuration and the codecs, never the daemon shell.""",
    "firmware_protocols": """Sans-I/O codecs of the devices' wire protocols: bytes in, frames out.

Imports nothing else of ours, so a vendor can read or reuse it alone.""",
    "tests/controller/core": "",
    "tests/controller/daemon": "",
    "tests/controller/cli": "",
}
"""Docstrings of the package ``__init__.py`` files; written when the file is missing or holds
nothing but a docstring (a package with code in its ``__init__`` is never touched)."""

SELF = Path("scripts/relayout.py")
IDENT = r"[A-Za-z_]\w*"
DOTTED = re.compile(rf"(?<![\w.])((?:tests\.)?controller(?:\.{IDENT})+)")
PATH = re.compile(r"(?<![\w-])((?:tests/)?controller/[\w/.-]*\w)")
FROM_IMPORT = re.compile(
    rf"^(?P<indent>[ \t]*)from[ \t]+(?P<pkg>(?:tests\.)?controller(?:\.{IDENT})*)[ \t]+import[ \t]+"
    r"(?:\((?P<paren>[^)]*)\)|(?P<plain>[^\n#(]+?))[ \t]*(?P<comment>#[^\n]*)?$",
    re.MULTILINE,
)
LINE_LENGTH = 100
LIST_OR_END = re.compile(r"[-*] |\d+\. |\"\"\"|'''")
PARENTS = re.compile(r"(Path\(__file__\)(?:\.resolve\(\))?\.parents\[)(\d+)(\])")


def module_of(path: str) -> str:
    """``controller/cli.py`` -> ``controller.cli``; ``controller/core`` -> ``controller.core``."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


OLD_MODULES = {module_of(old): module_of(new) for old, new in MOVES}
NEW_MODULES = set(OLD_MODULES.values())
OLD_PATHS = dict(MOVES)
NEW_PATHS = set(OLD_PATHS.values())
PACKAGES_NOW = {old for old in OLD_MODULES if any(n.startswith(f"{old}.") for n in NEW_MODULES)}
"""Old modules whose name a new package took (``controller.cli``, ``controller.daemon``)."""


def rename_module(dotted: str) -> str:
    """The dotted name with its longest moved prefix replaced; unchanged if it is already new."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in NEW_MODULES:
            return dotted  # already points at a new module (e.g. controller.cli.main)
        if prefix in OLD_MODULES:
            return ".".join([OLD_MODULES[prefix], *parts[n:]])
    return dotted


def rename_path(path: str) -> str:
    parts = path.split("/")
    for n in range(len(parts), 0, -1):
        prefix = "/".join(parts[:n])
        if prefix in NEW_PATHS:
            return path
        if prefix in OLD_PATHS:
            return "/".join([OLD_PATHS[prefix], *parts[n:]])
    return path


def rewrite_from_import(match: re.Match[str]) -> str:
    """One ``from controller... import`` statement, rewritten as a whole.

    ``from controller.state import X`` -> ``from controller.core.state import X``;
    ``from controller import engine as e`` -> ``from controller.core import engine as e``. A
    package that took an old module's name (``controller.daemon``) is told apart by what it
    imports: ``from controller.daemon import runtime`` is already new.
    """
    pkg, indent = match["pkg"], match["indent"]
    body = match["paren"] if match["paren"] is not None else match["plain"]
    body = re.sub(r"#[^\n]*", "", body)
    names = [n.split() for n in body.replace("\n", " ").split(",") if n.strip()]
    if any(len(n) not in (1, 3) or (len(n) == 3 and n[1] != "as") for n in names):
        return match[0]
    if all(f"{pkg}.{n[0]}" in NEW_MODULES for n in names):
        return match[0]
    if rename_module(pkg) != pkg:  # an old module: the names are its attributes
        return match[0].replace(pkg, rename_module(pkg), 1)
    kept: list[str] = []
    moved: list[str] = []
    for name in names:
        alias = name[-1]
        target = rename_module(f"{pkg}.{name[0]}")
        if target == f"{pkg}.{name[0]}":
            kept.append(" ".join(name))
            continue
        parent, leaf = target.rsplit(".", 1)
        moved.append(f"from {parent} import {leaf}" + ("" if leaf == alias else f" as {alias}"))
    if not moved:
        return match[0]
    lines = ([f"from {pkg} import {', '.join(kept)}"] if kept else []) + moved
    comment = f"  {match['comment']}" if match["comment"] else ""
    return "\n".join(indent + line for line in lines) + comment


def rewrite_text(text: str, is_python: bool, moved_now: frozenset[str] = frozenset()) -> str:
    """Imports first (each statement as a whole), then dotted names and paths elsewhere.

    ``moved_now``: the old modules this run moved. A bare ``controller.cli`` outside Python
    (pyproject's contracts, the docs) names the module only while it is being moved; once
    moved, the name is the package's and is left alone (``controller.cli:main`` excepted).
    """

    def dotted(match: re.Match[str]) -> str:
        name = match[1]
        after = match.string[match.end() : match.end() + 1]
        if name in PACKAGES_NOW and name not in moved_now and not is_python and after != ":":
            return name
        return rename_module(name)

    out: list[str] = []
    done = 0
    for match in FROM_IMPORT.finditer(text) if is_python else ():
        out += [DOTTED.sub(dotted, text[done : match.start()]), rewrite_from_import(match)]
        done = match.end()
    out.append(DOTTED.sub(dotted, text[done:]))
    return PATH.sub(lambda m: rename_path(m[1]), "".join(out))


def rewrap_docstrings(source: str) -> str:
    """Lines that a longer module name pushed past the limit, inside a docstring or another
    multi-line string: their last words move to the start of the next line (or a new line)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    lines = source.split("\n")
    spans = [(t.start[0] - 1, t.end[0] - 1) for t in tokens if t.type == tokenize.STRING]
    inserted = 0
    for first, last in spans:
        i, last = first + inserted, last + inserted
        while i < last:
            line = lines[i]
            cut = _last_fitting_space(line)
            if _width(line) <= LINE_LENGTH or cut < 0:
                i += 1
                continue
            indent = line[: len(line) - len(line.lstrip())]
            tail, following = line[cut + 1 :], lines[i + 1].strip()
            lines[i] = line[:cut].rstrip()
            if following and not LIST_OR_END.match(following):
                lines[i + 1] = (
                    f"{lines[i + 1][: len(lines[i + 1]) - len(following)]}{tail} {following}"
                )
            else:
                lines.insert(i + 1, indent + tail)
                last += 1
                inserted += 1
            i += 1
    return "\n".join(lines)


def _width(text: str) -> int:
    """Columns as ruff counts them: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _last_fitting_space(line: str) -> int:
    start = len(line) - len(line.lstrip()) + 1
    spaces = [i for i in range(start, len(line)) if line[i] == " "]
    fitting = [i for i in spaces if _width(line[:i]) <= LINE_LENGTH]
    return fitting[-1] if fitting else -1


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def ensure_package(folder: Path, added: list[str]) -> None:
    """Every folder from the top down to ``folder`` is a package with an ``__init__.py``."""
    for part in [*reversed(folder.parents[:-1]), folder]:
        init = part / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text("")
            added.append(str(init))


def move_files() -> dict[str, int]:
    """``git mv`` each module still at its old place; returns new path -> folders deeper."""
    moved: dict[str, int] = {}
    added: list[str] = []
    for old, new in MOVES:
        src, dst = Path(old), Path(new)
        if dst.exists():
            if src.exists():
                sys.exit(f"relayout: both {old} and {new} exist; merge them by hand first")
            continue
        if not src.exists():
            print(f"relayout: warning: {old} is gone; nothing to move to {new}")
            continue
        ensure_package(dst.parent, added)
        git("mv", old, new)
        moved[new] = len(dst.parts) - len(src.parts)
    if added:
        git("add", *added)
    return moved


def write_package_docs() -> None:
    for folder, doc in PACKAGE_DOCS.items():
        init = Path(folder) / "__init__.py"
        current = init.read_text() if init.exists() else ""
        if current.strip() and not _only_a_docstring(current):
            continue
        wanted = f'"""{doc}\n"""\n' if doc else ""
        if current != wanted:
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(wanted)
            git("add", str(init))


def _only_a_docstring(source: str) -> bool:
    stripped = source.strip()
    return stripped.startswith('"""') and stripped.endswith('"""') and stripped.count('"""') == 2


def rewrite_tree(moved: dict[str, int]) -> list[str]:
    moved_now = frozenset(module_of(old) for old, new in MOVES if new in moved)
    changed: list[str] = []
    for name in git("ls-files").splitlines():
        path = Path(name)
        if path == SELF or not path.is_file():
            continue
        raw = path.read_bytes()
        if b"\0" in raw:
            continue
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            continue
        new = rewrite_text(text, path.suffix == ".py", moved_now)
        if path.suffix == ".py" and new != text:
            new = rewrap_docstrings(new)
        if deeper := moved.get(name, 0):
            new = PARENTS.sub(lambda m: f"{m[1]}{int(m[2]) + deeper}{m[3]}", new)
        if new != text:
            path.write_text(new)
            changed.append(name)
    return changed


def sort_imports(files: list[str]) -> None:
    python = [f for f in files if f.endswith(".py")]
    ruff = shutil.which("ruff", path=".venv/bin") or shutil.which("ruff")
    if not python:
        return
    if ruff is None:
        print("relayout: warning: ruff not found; run `ruff check --select I --fix .` yourself")
        return
    subprocess.run([ruff, "check", "--quiet", "--select", "I", "--fix", *python], check=False)


def warn_unknown() -> None:
    loose = sorted(
        str(p) for p in Path("controller").glob("*.py") if p.name != "__init__.py"
    ) + sorted(str(p) for p in Path("tests/controller").glob("test_*.py"))
    layers = {"core", "store", "config", "daemon", "cli", "http", "console", "auth", "haochaping"}
    odd = sorted(
        str(p)
        for p in Path("controller").iterdir()
        if p.is_dir() and p.name not in layers and p.name != "__pycache__"
    )
    for path in loose + odd:
        print(f"relayout: warning: {path} is in no layer folder; add it to MOVES and run again")


def check_no_ambiguous_names() -> None:
    """A module that becomes a package of the same name (controller/cli.py -> controller/cli/)
    must not define a name that is also one of the package's new modules: ``from controller.cli
    import main`` could not be told from an import of a module ``controller.cli.main``."""
    for old in OLD_MODULES:
        source = Path(old.replace(".", "/") + ".py")
        leaves = {new.rsplit(".", 1)[1] for new in NEW_MODULES if new.startswith(old + ".")}
        if not leaves or not source.is_file():
            continue
        defined = {
            getattr(node, "name", None) or target.id
            for node in ast.parse(source.read_text()).body
            for target in (getattr(node, "targets", None) or [node])
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            or isinstance(target, ast.Name)
        }
        if clash := sorted(leaves & defined):
            sys.exit(f"relayout: {source} defines {clash}, also new modules of {old}; rename")


def main() -> int:
    if not Path("pyproject.toml").is_file() or not Path("controller").is_dir():
        sys.exit("relayout: run me from the repository root")
    check_no_ambiguous_names()
    moved = move_files()
    write_package_docs()
    changed = rewrite_tree(moved)
    sort_imports(changed)
    if changed:
        git("add", *changed)
    print(f"relayout: {len(moved)} files moved, {len(changed)} files rewritten")
    warn_unknown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
