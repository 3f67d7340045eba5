"""``hallctl user``: accounts from the command line (the first admin before the console exists).

Writes to the same log as the daemon (the SQLite file, or the PostgreSQL database of
``[store]``), so it takes the same one-writer lock (``controller.daemon.ownership``) and
refuses while the daemon runs (add users from the console's 账号 page then). The password
is asked twice on the terminal, or read from one line of stdin with ``--password-stdin``
(for scripts). Without a terminal on stdin (a script, ``</dev/null``) and without that flag
it refuses in one line, exit 2, rather than crash.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, Final

from controller.auth.directory import AccessDirectory, AccessError
from controller.auth.model import ACCESS_STREAM, Role, Scope
from controller.cli.db import LogTarget, log_target, open_log, owned_log
from controller.daemon.ownership import HallOwned
from controller.store.group_commit import GroupCommitter


def register_user_command(subparsers: Any) -> None:
    user = subparsers.add_parser("user", help="manage console accounts")
    actions = user.add_subparsers(dest="user_action", required=True)
    add = actions.add_parser("add", help="add an account (e.g. the first admin)")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--token", metavar="PURPOSE", help="also issue an API token; print it once")
    add.add_argument(
        "--token-scope",
        choices=[s.value for s in Scope],
        help="limit the token (booking: the booking routes only, for the city's 政务服务网)",
    )
    _where(add)
    add.set_defaults(func=_cmd_add)
    listing = actions.add_parser("list", help="list accounts")
    _where(listing)
    listing.set_defaults(func=_cmd_list)


def _where(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="hall TOML (its [store] names the log)")
    group.add_argument("--db", help="the SQLite log file")


def _target(args: argparse.Namespace) -> LogTarget:
    return log_target(args.config, args.db)


NO_TERMINAL: Final = (
    "没有终端可输入密码 / no terminal to ask the password on: "
    "pipe it in with --password-stdin (e.g. printf '%s\\n' \"$PW\" | hallctl user add NAME "
    "--password-stdin ...)"
)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise AccessError("no_terminal", NO_TERMINAL)
    try:
        first = getpass.getpass("密码 / password: ")
        again = getpass.getpass("再输入一次 / again: ")
    except EOFError:  # the terminal closed (Ctrl-D) before a password came
        raise AccessError("no_terminal", NO_TERMINAL) from None
    if again != first:
        raise AccessError("password_mismatch", "the two passwords differ")
    return first


async def add_user_main(args: argparse.Namespace, password: str) -> int:
    target = _target(args)
    try:
        async with (
            owned_log(target, [ACCESS_STREAM]) as store,  # the daemon's one-writer lock
            GroupCommitter(store) as committer,
        ):
            directory = await AccessDirectory.open(store, committer)
            account = await directory.add_user(
                args.name, password, Role(args.role), display_name=args.display_name, by="cli"
            )
            await directory.audit(
                actor="cli",
                via="cli",
                action="user_add",
                detail=f"{account.user} as {args.role}",
            )
            print(f"added {account.user} ({account.role.value}) to {target.where}")
            if args.token:
                scope = Scope(args.token_scope) if args.token_scope else None
                token_id, secret = await directory.issue_token(
                    account.user, args.token, by="cli", scope=scope
                )
                print(f"API token {token_id} (shown once): {secret}")
    except HallOwned as exc:
        print(f"{exc}; add accounts from the console (账号与审计) instead", file=sys.stderr)
        return 2
    except AccessError as exc:
        print(f"user add: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    return 0


async def list_users_main(args: argparse.Namespace) -> int:
    store = await open_log(_target(args))
    try:
        async with GroupCommitter(store) as committer:
            directory = await AccessDirectory.open(store, committer)
            for account in directory.accounts.values():
                state = "enabled" if account.enabled else "disabled"
                print(f"{account.user}\t{account.role.value}\t{state}\t{account.display_name}")
    finally:
        await store.close()
    return 0


def _cmd_add(args: argparse.Namespace) -> int:
    from controller.cli.hallctl import run_async

    try:
        password = _read_password(args)
    except AccessError as exc:
        print(f"user add: {exc.message}", file=sys.stderr)
        return 2
    return run_async(lambda: add_user_main(args, password))


def _cmd_list(args: argparse.Namespace) -> int:
    from controller.cli.hallctl import run_async

    return run_async(lambda: list_users_main(args))
