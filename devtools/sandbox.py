"""A real Asterisk 22 for development and tests, in a Debian sid chroot the project builds itself.

Why a chroot: the machine's Debian (bookworm) ships no Asterisk, sid ships 22 with chan_pjsip,
ARI, chan_websocket and snoop. `debootstrap` builds the root file system once (about a minute)
into a cache OUTSIDE the clone (`~/.cache/hotline`, or `$HOTLINE_SANDBOX_CACHE`), and every
later run reuses it. The mirror is read from the machine's own apt sources: no registry host
is ever written into the repository.

Each `AsteriskSandbox` is one Asterisk process with its own directory inside the chroot, its own
free ports and its own configuration rendered from `config/asterisk/*.conf`. It runs in fresh
mount and PID namespaces (`unshare`), so /proc and /dev mounts vanish with it and stopping it
leaves no process behind. Asterisk runs as root WITHOUT `-U`: with `-U root` it drops
CAP_DAC_OVERRIDE and can no longer read its own 0640 config files.

This module never touches the host's network beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from kernel.errors import HotlineError
from telephony.ari.auth import basic_authorization
from telephony.prompts import render_prompts

log = logging.getLogger(__name__)

PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-gsm", "sip-tester")
SUITE = "sid"
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "config" / "asterisk"
INSTANCES_IN_ROOT = Path("/srv/hotline")
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


class SandboxError(HotlineError):
    """Provisioning or running the Asterisk sandbox failed."""

    code = "sandbox_error"


def cache_dir() -> Path:
    return Path(os.environ.get("HOTLINE_SANDBOX_CACHE", Path.home() / ".cache" / "hotline"))


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive URI from this machine's apt sources (deb822 or one-line format)."""
    candidates: list[str] = []
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                candidates.extend(line.split()[1:])
    one_line = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb":
                    uri = parts[2] if parts[1].startswith("[") else parts[1]
                    candidates.append(uri)
    for uri in candidates:
        if uri.rstrip("/").endswith("/debian"):
            return uri
    raise SandboxError(
        "no Debian archive found in the apt sources (/etc/apt); cannot build the Asterisk sandbox"
    )


def ensure_rootfs(base: Path | None = None) -> Path:
    """Return a ready chroot with Asterisk and SIPp, building it once when absent.

    A file lock serialises concurrent callers (two test sessions on one machine); the root is
    built in a temporary directory and renamed, so a half-built root is never used.
    """
    base = base or cache_dir()
    base.mkdir(parents=True, exist_ok=True)
    root = base / "asterisk-sid-root"
    marker = root / ".hotline-ready"
    wanted = " ".join(PACKAGES)
    if marker.exists() and marker.read_text().strip() == wanted:
        return root
    with open(base / "provision.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text().strip() == wanted:
            return root
        if shutil.which("debootstrap") is None:
            raise SandboxError("debootstrap is not installed (apt-get install debootstrap)")
        building = base / f"asterisk-sid-root.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        mirror = debian_mirror()
        log.info("building Asterisk sandbox root", extra={"root": str(root), "suite": SUITE})
        started = time.monotonic()
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(building), mirror],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            shutil.rmtree(building, ignore_errors=True)
            raise SandboxError(f"debootstrap failed ({result.returncode}): {' | '.join(tail)}")
        (building / ".hotline-ready").write_text(wanted + "\n")
        if root.exists():
            shutil.rmtree(root)
        building.rename(root)
        log.info("Asterisk sandbox root ready", extra={"seconds": round(time.monotonic() - started, 1)})
        return root


def sounds_dir(root: Path) -> Path:
    """Asterisk's sounds directory inside the root (host view), where the prompts go."""
    return resolve_in_root(root, "/usr/share/asterisk/sounds/en")


def resolve_in_root(root: Path, path: str) -> Path:
    """Follow symlinks as the chroot would (absolute links point inside `root`)."""
    current = Path(path)
    for _ in range(20):
        host = root / str(current).lstrip("/")
        if not host.is_symlink():
            return host
        target = Path(host.readlink())
        current = target if target.is_absolute() else current.parent / target
    raise SandboxError(f"symlink loop at {path} in {root}")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: SIPp's own ports (SIP and media) come from here: below the kernel's ephemeral range
#: (32768-60999, where `free_udp_port` and every client socket draw from) and apart from the
#: sandboxes' RTP range (20000-30000). Before, media ports were random in 30000-40000, inside
#: the ephemeral range: a concurrent SIPp's SIP port (or another's media port) could be the
#: same, that SIPp failed to bind and its call never arrived ("N calls never set up" on CI).
SIPP_PORT_RANGE = (10000, 20000)
#: Asterisk sandboxes' RTP ports come from here.
RTP_PORT_RANGE = (20000, 30000)
_SIPP_BLOCK = 8  # SIP port, then media ports (audio RTP/RTCP, video RTP/RTCP) from +4


def port_slice(low: int, high: int, spec: str | None = None) -> tuple[int, int]:
    """The part of [low, high) this process may use when several test processes share the
    machine (`HOTLINE_PORT_SLICE=k/n`, set per pytest-xdist worker by tests/conftest.py).

    Why: a free-port check and the bind that follows are two steps; two processes drawing from
    one range can both find a port free and then collide (a SIPp that cannot bind never places
    its call). Disjoint slices make such a collision impossible between our own processes.
    """
    spec = os.environ.get("HOTLINE_PORT_SLICE", "") if spec is None else spec
    if not spec:
        return low, high
    try:
        index_text, count_text = spec.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError as exc:
        raise SandboxError(f"HOTLINE_PORT_SLICE must be k/n, got {spec!r}") from exc
    if count < 1 or not 0 <= index < count:
        raise SandboxError(f"HOTLINE_PORT_SLICE must be k/n with 0 <= k < n, got {spec!r}")
    width = (high - low) // count // _SIPP_BLOCK * _SIPP_BLOCK
    start = low + index * width
    return start, start + width


_sipp_lock = threading.Lock()
_sipp_next = [random.randrange(*port_slice(*SIPP_PORT_RANGE), _SIPP_BLOCK)]


def sipp_ports() -> tuple[int, int]:
    """(SIP port, media port) for one SIPp: handed out round-robin in blocks (concurrent SIPps
    of this process never share one) and checked free (other processes' sockets)."""
    low, high = port_slice(*SIPP_PORT_RANGE)
    with _sipp_lock:
        for _ in range((high - low) // _SIPP_BLOCK):
            base = _sipp_next[0]
            _sipp_next[0] = base + _SIPP_BLOCK if base + 2 * _SIPP_BLOCK <= high else low
            if _udp_range_free(base, _SIPP_BLOCK, step=1):
                return base, base + 4
    raise SandboxError(f"no free UDP ports for SIPp between {low} and {high}")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _udp_range_free(start: int, count: int, step: int = 10) -> bool:
    for port in range(start, start + count, step):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def render_template(text: str, values: dict[str, str]) -> str:
    """Fill `{{name}}` placeholders; an unknown placeholder is an error, never left behind.

    Not `string.Template`: Asterisk's own `${VAR}` syntax must pass through untouched.
    """

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SandboxError(f"template placeholder {{{{{key}}}}} has no value")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def chroot_command(root: Path, argv: list[str], *, cwd: str = "/",
                   pid_namespace: bool = True) -> list[str]:
    """argv that runs `argv` inside the chroot, in a fresh mount (and PID) namespace.

    The mount namespace keeps /proc and /dev mounts private; the PID namespace guarantees that
    killing the returned process kills everything it started.
    """
    inner = " ".join(_shell_quote(a) for a in argv)
    script = (
        f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
        f"exec chroot {root} sh -c {_shell_quote(f'cd {cwd} && exec {inner}')}"
    )
    pid_args = ["--pid", "--fork", "--kill-child"] if pid_namespace else []
    return ["unshare", "--mount", *pid_args, "--propagation", "private", "sh", "-c", script]


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


@dataclass
class AsteriskSandbox:
    """One running Asterisk in the shared chroot, with its own ports and directories."""

    root: Path
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    ari_user: str = "hotline"
    ari_password: str = field(default_factory=lambda: uuid.uuid4().hex)
    ari_app: str = "hotline"
    #: ari.conf's allowed_origins (CORS): none unless a test or a deployment names some.
    ari_allowed_origins: tuple[str, ...] = ()
    http_port: int = 0
    sip_port: int = 0
    rtp_start: int = 0
    #: UDP ports Asterisk may use for RTP: two per call leg (RTP + RTCP), so 200 holds about
    #: 100 concurrent calls; load benchmarks ask for more.
    rtp_ports: int = 200
    extra_dialplan: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def instance_in_root(self) -> Path:
        return INSTANCES_IN_ROOT / self.name

    @property
    def instance_dir(self) -> Path:
        """The instance's directory as seen from the host."""
        return self.root / str(self.instance_in_root).lstrip("/")

    @property
    def log_path(self) -> Path:
        """Asterisk's own log (`messages.log` in config/asterisk/logger.conf)."""
        return self.instance_dir / "log" / "messages.log"

    @property
    def recording_dir(self) -> Path:
        return self.instance_dir / "spool" / "recording"

    @property
    def message_spool_dir(self) -> Path:
        """Where the dialplan's fallback leaves messages (`HOTLINE_SPOOL` in extensions.conf)."""
        return self.instance_dir / "spool" / "hotline-messages"

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_file(self) -> Path:
        return self.instance_dir / "log" / "console.log"

    def _render_config(self) -> None:
        if not self.http_port:
            self.http_port = free_tcp_port()
        if not self.sip_port:
            self.sip_port = free_udp_port()
        if not self.rtp_start:
            low, high = port_slice(*RTP_PORT_RANGE)
            for _ in range(50):
                start = random.randrange(low, max(low + 2, high - self.rtp_ports), 2)
                if _udp_range_free(start, self.rtp_ports):
                    self.rtp_start = start
                    break
            else:
                raise SandboxError(f"no free UDP range for RTP between {low} and {high}")
        values = {
            "instance": str(self.instance_in_root),
            "name": self.name,
            "http_port": str(self.http_port),
            "sip_port": str(self.sip_port),
            "rtp_start": str(self.rtp_start),
            "rtp_end": str(self.rtp_start + self.rtp_ports - 1),
            "ari_user": self.ari_user,
            "ari_password": self.ari_password,
            "ari_app": self.ari_app,
            "ari_allowed_origins": ",".join(self.ari_allowed_origins),
        }
        etc = self.instance_dir / "etc"
        for sub in ("etc", "run", "lib", "log", "cache", "spool/recording", "spool/sipp/pcap"):
            (self.instance_dir / sub).mkdir(parents=True, exist_ok=True)
        for template in sorted(TEMPLATE_DIR.glob("*.conf")):
            text = render_template(template.read_text(encoding="utf-8"), values)
            if template.name == "extensions.conf" and self.extra_dialplan:
                text += "\n" + self.extra_dialplan + "\n"
            (etc / template.name).write_text(text, encoding="utf-8")
        shipped = self.root / "usr/share/sip-tester"
        for pcap in [*shipped.glob("*.pcap"), *shipped.glob("pcap/*.pcap")]:  # audio, DTMF
            shutil.copy(pcap, self.instance_dir / "spool/sipp/pcap" / pcap.name)

    def start(self, timeout: float = 60.0) -> None:
        """Start Asterisk and wait until ARI answers."""
        if (self.instance_dir / "run" / "asterisk.ctl").exists():
            # A previous run of this named instance was not stopped (a crash, a kill -9).
            with suppress(Exception):
                self.cli("core stop now", timeout=5)
        self._render_config()
        # Only a check when set-up (scripts/test, scripts/run: `python -m devtools prompts`)
        # rendered them: many sandboxes start, some in parallel, and must stay cheap.
        render_prompts(sounds_dir(self.root))
        log_handle = open(self.log_file, "ab")
        argv = chroot_command(
            self.root,
            ["/usr/sbin/asterisk", "-f", "-n", "-C", f"{self.instance_in_root}/etc/asterisk.conf"],
        )
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SandboxError(
                    f"Asterisk exited with {self.process.returncode}: {self._log_tail()}"
                )
            if self._ari_ping():
                log.info("asterisk sandbox up", extra={"instance": self.name,
                                                       "http_port": self.http_port,
                                                       "sip_port": self.sip_port})
                return
            time.sleep(0.2)
        self.stop()
        raise SandboxError(f"Asterisk did not answer ARI within {timeout:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        with suppress(OSError):
            return " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-5:])
        return "(no log)"

    def _ari_ping(self) -> bool:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"{self.ari_url}/ari/asterisk/ping",
                                         headers=basic_authorization(self.ari_user, self.ari_password))
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command against this instance (`asterisk -rx`)."""
        argv = chroot_command(
            self.root,
            ["/usr/sbin/asterisk", "-C", f"{self.instance_in_root}/etc/asterisk.conf", "-rx", command],
        )
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return result.stdout

    def _namespace_init_pid(self) -> int | None:
        """Host PID of the process that is PID 1 inside the sandbox's PID namespace."""
        if self.process is None:
            return None
        with suppress(OSError, ValueError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
            return int(children.split()[0]) if children.split() else None
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Asterisk gracefully, then for sure; nothing is left running afterwards.

        SIGKILL goes to the namespace's PID 1 itself: when it dies the kernel kills every
        process in the namespace, whatever process group Asterisk put them in.
        """
        if self.process is None or self.process.poll() is not None:
            return
        init_pid = self._namespace_init_pid()
        with suppress(Exception):
            self.cli("core stop now", timeout=timeout / 2)
        try:
            self.process.wait(timeout=timeout / 2)
        except subprocess.TimeoutExpired:
            for pid in (init_pid, self.process.pid):
                if pid:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def remove(self) -> None:
        """Stop and delete the instance directory (recordings included)."""
        self.stop()
        shutil.rmtree(self.instance_dir, ignore_errors=True)

    # --- SIPp -------------------------------------------------------------------------------

    def sipp_dir(self) -> Path:
        """Working directory for SIPp (pcaps are under ./pcap), host view."""
        return self.instance_dir / "spool" / "sipp"

    def sipp_argv(self, *args: str, local_port: int | None = None) -> list[str]:
        """argv running SIPp inside the chroot against this instance's SIP port."""
        sip_port, media_port = sipp_ports()
        local_port = local_port or sip_port
        cwd = str(self.instance_in_root / "spool" / "sipp")
        return chroot_command(
            self.root,
            ["sipp", f"127.0.0.1:{self.sip_port}", "-i", "127.0.0.1", "-p", str(local_port),
             "-mi", "127.0.0.1", "-mp", str(media_port), "-nostdin", *args],
            cwd=cwd,
            # SIPp derives Call-IDs, tags and Via branches from its PID: in a PID namespace of
            # its own every SIPp is PID 1 or 2, and concurrent calls collide (Asterisk takes
            # one's BYE for a retransmission of the other's).
            pid_namespace=False,
        )

    async def run_sipp(self, *args: str, timeout: float = 120.0) -> tuple[int, str]:
        """Run SIPp to completion; return its exit code and combined output."""
        process = await asyncio.create_subprocess_exec(
            *self.sipp_argv(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            raise
        return process.returncode or 0, out.decode(errors="replace")

    async def start_sipp(self, *args: str, local_port: int) -> asyncio.subprocess.Process:
        """Start SIPp in the background (a phone that waits for calls on `local_port`);
        stop it with `stop_sipp`."""
        return await asyncio.create_subprocess_exec(
            *self.sipp_argv(*args, local_port=local_port), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)

    @staticmethod
    async def stop_sipp(process: asyncio.subprocess.Process) -> str:
        """End a background SIPp (if still running) and return what it printed."""
        if process.returncode is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            out, _ = await asyncio.wait_for(process.communicate(), 10)
        except TimeoutError:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            out, _ = await process.communicate()
        return (out or b"").decode(errors="replace")

    def write_sipp_file(self, name: str, content: str | bytes) -> str:
        """Put a scenario or media file in SIPp's working directory; return its name there.

        Written whole under a temporary name, then renamed: concurrent calls write the same
        audio file, and a SIPp already reading it must never see it truncated (it then failed
        to load its audio and its call never arrived: "N calls never set up")."""
        target = self.sipp_dir() / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.encode()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

