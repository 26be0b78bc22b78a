"""Development tooling: a real Asterisk sandbox and SIPp test calls (`python -m devtools ...`).

Not part of the shipped backend: `scripts/run`, `scripts/call` and the tests use it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from kernel.errors import HotlineError
from kernel.log import configure_logging


def _sandbox_up(args: argparse.Namespace) -> None:
    """Start an Asterisk sandbox in the foreground and print how to reach it as JSON."""
    from devtools.sandbox import AsteriskSandbox, ensure_rootfs

    # No password given: the sandbox's own random one (a known default is refused by the
    # backend at start-up, `telephony.settings`).
    extra = {"ari_password": args.ari_password} if args.ari_password else {}
    sandbox = AsteriskSandbox(ensure_rootfs(), name=args.name, http_port=args.http_port,
                              sip_port=args.sip_port, **extra)
    sandbox.start()
    print(json.dumps({"ari_url": sandbox.ari_url, "ari_user": sandbox.ari_user,
                      "ari_password": sandbox.ari_password, "sip_port": sandbox.sip_port,
                      "recording_dir": str(sandbox.recording_dir), "root": str(sandbox.root),
                      "message_spool_dir": str(sandbox.message_spool_dir),
                      "instance": sandbox.name}), flush=True)
    stop = {"now": False}

    def request_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        while not stop["now"] and sandbox.process and sandbox.process.poll() is None:
            time.sleep(0.2)
    finally:
        sandbox.stop()


def _sandbox_call(args: argparse.Namespace) -> None:
    """Place a test call with SIPp (continuous G.711 audio) into a running sandbox."""
    from devtools.sandbox import AsteriskSandbox, ensure_rootfs
    from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario

    sandbox = AsteriskSandbox(ensure_rootfs(), name=args.name, sip_port=args.sip_port)
    wav = sandbox.write_sipp_file("caller-audio.wav", _caller_words(args.say) or caller_audio_wav())
    scenario = sandbox.write_sipp_file(
        "call.xml", speech_call_scenario(wav, hold_ms=args.seconds * 1000, loops=-1))
    code, out = asyncio.run(sandbox.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                              "-set", "caller", args.caller))
    print("call finished" if code == 0 else f"SIPp failed ({code}):\n{out[-2000:]}")
    if code:
        raise SystemExit(code)


#: What the test call's caller says by default: a request with a place, a matter and a number.
TEST_CALLER_SAYS = ("你好，我住在罗庄区盛庄街道，我们小区三号楼的电梯坏了半个月了，物业一直不修，"
                    "我的电话是一三九零零一二三四五六。")


def _caller_words(text: str) -> bytes | None:
    """`text` in the neural Mandarin voice as a µ-law WAV, or None (said why) when the voice's
    environment is not there: the call then carries a tone, as before."""
    import subprocess

    from devtools.mandarin_speech import render, speech_venv_ready
    from kernel.errors import HotlineError

    if not text:
        return None
    if not speech_venv_ready():
        print("sandbox-call: no Mandarin voice here (scripts/run builds it): the caller hums", file=sys.stderr)
        return None
    try:
        (source,) = render([text])
    except HotlineError as exc:
        print(f"sandbox-call: {exc}: the caller hums", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        ulaw = Path(tmp) / "caller-ulaw.wav"
        subprocess.run(["sox", str(source), "-e", "mu-law", str(ulaw), "pad", "0.5", "2"], check=True)
        return ulaw.read_bytes()


def _prompts(args: argparse.Namespace) -> None:
    """Render the voice prompts at set-up: the neural Mandarin voice, building its environment
    when needed (minutes, once); espeak-ng's pinyin voice when that environment cannot be built.
    Prints what was rendered."""
    from devtools.mandarin_speech import NeuralVoice, ensure_speech_venv
    from devtools.sandbox import ensure_rootfs, sounds_dir
    from telephony.prompts import EspeakPinyinVoice, PromptVoice, render_prompts

    target = args.sounds_dir or sounds_dir(ensure_rootfs())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hotline-prompts-") as tmp:
        voice: PromptVoice = EspeakPinyinVoice(Path(tmp))
        if not args.espeak:
            try:
                ensure_speech_venv()
                voice = NeuralVoice()
            except HotlineError as exc:
                print(f"devtools prompts: neural voice unavailable ({exc}); using espeak-ng", file=sys.stderr)
        written = render_prompts(target, voice=voice)
    print(f"devtools prompts: {len(written)} rendered by {voice.id} into {target} "
          f"in {time.monotonic() - started:.1f} s", file=sys.stderr)
    for path in written:
        print(path)


def _demo_accounts() -> None:
    """Make (or re-key) one demo account per role in the configured database; print a table."""
    from devtools.demo_accounts import ensure_demo_accounts
    from hotline.settings import load_settings

    for account in asyncio.run(ensure_demo_accounts(load_settings().database.url)):
        print(f"{account.username:<16} {account.password:<14} {account.role.value:<15} "
              f"{account.display_name}{'（' + account.unit + '）' if account.unit else ''}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("sandbox-up", help="start a real Asterisk sandbox (foreground)")
    up.add_argument("--name", default="dev")
    up.add_argument("--http-port", type=int, default=0)
    up.add_argument("--sip-port", type=int, default=0)
    up.add_argument("--ari-password", default=None, help="ARI password (default: a random one per start)")
    call = sub.add_parser("sandbox-call", help="place a test call into the sandbox with SIPp")
    call.add_argument("--name", default="dev")
    call.add_argument("--sip-port", type=int, required=True)
    call.add_argument("--caller", default="13800138000")
    call.add_argument("--seconds", type=int, default=5)
    call.add_argument("--say", default=TEST_CALLER_SAYS,
                      help="what the caller says (neural Mandarin voice; '' for a tone)")
    prompts = sub.add_parser("prompts", help="render the voice prompts (neural Mandarin voice) at set-up")
    prompts.add_argument("--sounds-dir", type=Path, default=None,
                         help="Asterisk sounds directory (default: the sandbox root's)")
    prompts.add_argument("--espeak", action="store_true", help="use espeak-ng's pinyin voice")
    sub.add_parser("demo-accounts", help="one demo account per role, new passwords (scripts/run)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        if args.command == "sandbox-up":
            _sandbox_up(args)
        elif args.command == "prompts":
            _prompts(args)
        elif args.command == "demo-accounts":
            _demo_accounts()
        else:
            _sandbox_call(args)
    except HotlineError as exc:
        print(f"devtools: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
