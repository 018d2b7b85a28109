"""A private PulseAudio server with virtual devices, for tests and benchmarks of the live drill.

No mocks: the drill talks to a real sound server through PortAudio's ALSA ``pulse`` device
(libasound2-plugins). Two null sinks make the virtual headset:

* ``speaker``: where voicesim plays the customer (the default sink); its monitor lets a test
  record what was really played;
* ``micsink``: whatever is played into it (``paplay -d micsink``) is what the virtual
  microphone hears; its monitor ``micsink.monitor`` is the default source.

``PulseServer.echo_on()`` makes the microphone hear the speaker, as laptop speakers would. The server runs as the current user (root works) with ``-n`` (no system
config), a private runtime directory and an anonymous unix socket; every child process reaches
it through ``PULSE_SERVER`` in ``env``.

Debian packages: pulseaudio, pulseaudio-utils, libasound2-plugins (scripts/setup.sh installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SPEAKER = "speaker"
HANG_GUARD_S = 300  # waits end on an event or a state; this only stops a hung test
MICSINK = "micsink"

CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-cli-protocol-unix socket={socket}.cli
load-module module-null-sink sink_name={speaker} rate=48000 sink_properties=device.description=virtual-headset-speaker
load-module module-null-sink sink_name={micsink} rate=48000 sink_properties=device.description=virtual-microphone
set-default-sink {speaker}
set-default-source {micsink}.monitor
"""


def missing_tools() -> list[str]:
    """What is missing to run a PulseAudio test rig here (empty when everything is there)."""
    missing = [
        t for t in ("pulseaudio", "pactl", "paplay", "parecord", "pacat") if not shutil.which(t)
    ]
    plugin = Path("/usr/share/alsa/alsa.conf.d/50-pulseaudio.conf")
    if not plugin.exists() and not Path("/etc/alsa/conf.d/50-pulseaudio.conf").exists():
        missing.append("libasound2-plugins (ALSA 'pulse' device)")
    return missing


class PulseServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.runtime = self.root / "run"
        self.socket = self.runtime / "native"
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "pulseaudio.log"
        self.mic_sink = MICSINK  # where paplay speaks into the microphone
        self.loopback: int | None = None
        home = self.root / "home"
        self.env = {
            **os.environ,
            "PULSE_SERVER": f"unix:{self.socket}",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "PULSE_CLIENTCONFIG": str(self.root / "client.conf"),
        }
        self.env.pop("PULSE_SINK", None)
        self.env.pop("PULSE_SOURCE", None)

    def start(self, timeout: float = 15.0) -> PulseServer:
        self.runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.root / "home").mkdir(exist_ok=True)
        # Clients never start a server of their own (a test that points them at no server
        # must find none).
        (self.root / "client.conf").write_text("autospawn = no\n")
        cfg = self.root / "default.pa"
        cfg.write_text(CONFIG.format(socket=self.socket, speaker=SPEAKER, micsink=MICSINK))
        self.proc = subprocess.Popen(
            [
                "pulseaudio",
                "-n",
                "-F",
                str(cfg),
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "--log-target=stderr",
                "--log-level=warning",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),  # noqa: SIM115 - kept open for the server's life
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pulseaudio exited: {self.log.read_text()[-2000:]}")
            if self.socket.exists() and self.pactl("info", check=False).returncode == 0:
                self._keep_awake()
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"pulseaudio did not start in {timeout} s: {self.log.read_text()[-2000:]}"
        )

    def _keep_awake(self) -> None:
        """Read the speaker's monitor with a short latency for the server's whole life.

        An idle null sink sleeps for up to 2 s between renders; a duplex PortAudio stream that
        joins it then stalls for seconds, often busy-waits a core, or dies at start-up
        (measured). A real sink, or a low-latency reader of the null sink, keeps it rendering
        in small steps, as a sound card would.
        """
        self.keeper = subprocess.Popen(
            ["pacat", "--record", "-d", f"{SPEAKER}.monitor", "--latency-msec=10", "--raw"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, check=check, timeout=20
        )

    def stop(self) -> None:
        keeper = getattr(self, "keeper", None)
        if keeper is not None and keeper.poll() is None:
            keeper.kill()
            keeper.wait(timeout=10)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def cli(self, *commands: str) -> str:
        """Run commands on the server's CLI socket (module-cli-protocol-unix; what pacmd does,
        which needs a pid file this server does not write). Returns the server's answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(20)
            s.connect(f"{self.socket}.cli")
            s.sendall("".join(f"{c}\n" for c in commands).encode())
            s.shutdown(socket.SHUT_WR)  # the server answers, then closes
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        return answer.decode(errors="replace")

    def kill_clients_of(self, pid: int, timeout: float = 60) -> int:
        """Cut a process's connections to the server (``kill-client``), as a sound server
        dropping a client does: its streams die under it. Returns how many were cut."""
        deadline = time.monotonic() + timeout
        while True:  # a stream being reopened has no client for a moment
            listed = json.loads(self.pactl("--format=json", "list", "clients").stdout)
            mine = [
                c["index"]
                for c in listed
                if c["properties"].get("application.process.id") == str(pid)
            ]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if mine:
            self.cli(*(f"kill-client {i}" for i in mine))
        return len(mine)

    # -- echo: the speaker leaks into the microphone -------------------------------------------
    def echo_on(self, latency_ms: int = 30) -> None:
        """Route the speaker into the microphone too, as laptop speakers would (module-loopback,
        with its adaptive resampler off: that one swings the echo delay by tens of milliseconds
        a second, which no room does)."""
        out = self.pactl(
            "load-module",
            "module-loopback",
            f"source={SPEAKER}.monitor",
            f"sink={MICSINK}",
            f"latency_msec={latency_ms}",
            "adjust_time=0",
            "source_dont_move=true",
            "sink_dont_move=true",
        )
        self.loopback = int(out.stdout.strip())

    def echo_off(self) -> None:
        if self.loopback is not None:
            self.pactl("unload-module", str(self.loopback), check=False)
            self.loopback = None

    # -- the trainee speaks --------------------------------------------------------------------
    def paplay(self, wav: Path, sink: str | None = None) -> tuple[subprocess.Popen, float]:
        """Start playing ``wav`` into the virtual microphone; returns (process, start time)."""
        t = time.time()
        proc = subprocess.Popen(
            ["paplay", "-d", sink or self.mic_sink, "--latency-msec=20", str(wav)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return proc, t

    def parecord(self, wav: Path, source: str = f"{SPEAKER}.monitor") -> subprocess.Popen:
        """Record what is played on the speaker (the customer as really heard)."""
        return subprocess.Popen(
            [
                "parecord",
                "-d",
                source,
                "--file-format=wav",
                "--channels=1",
                "--rate=16000",
                "--latency-msec=50",
                str(wav),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def sound_cards() -> bool:
    """Does this machine have ALSA sound cards of its own (besides the PulseAudio rig)?"""
    try:
        text = Path("/proc/asound/cards").read_text()
    except OSError:
        return False
    return "no soundcards" not in text and bool(text.strip())


def render_trainee(text: str, path: Path, synth=None) -> float:
    """The trainee's line in the hibari voice as a 16 kHz WAV starting at the speech; seconds."""
    import soundfile as sf

    from voicesim.audio.formats import RATE
    from voicesim.speech.tts import Synthesizer, VoiceSettings

    synth = synth or Synthesizer()
    audio = synth.render(text, VoiceSettings(engine="hibari", voice="heart", rate=170))
    tail = np.zeros(int(0.3 * RATE), dtype=np.float32)
    sf.write(str(path), np.concatenate([audio, tail]), RATE, subtype="PCM_16")
    return audio.size / RATE


class Drill:
    """``voicesim drill`` in a subprocess, followed through its events.jsonl. Without the call
    sounds unless ``sounds`` (they add some 4 s to a call; the tests that check them ask)."""

    def __init__(
        self,
        server: PulseServer,
        out: Path,
        *args: str,
        max_seconds: float = 90,
        sounds: bool = False,
    ):
        self.server = server
        self.out = Path(out)
        self.events_path = self.out / "events.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "voicesim",
            "drill",
            *([] if "--seed" in args else ["--seed", "0"]),  # the same customer every run
            "--out",
            str(self.out),
            "--max-seconds",
            str(max_seconds),
            *([] if sounds else ["--no-call-sounds"]),
            *args,
        ]
        self.log = self.out.parent / f"{self.out.name}.log"
        self._logfh = open(self.log, "w")  # noqa: SIM115
        self.started = time.time()
        self.proc = subprocess.Popen(
            cmd,
            env={**server.env, "COLUMNS": "200"},
            stdout=self._logfh,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._seen = 0

    def events(self) -> list[dict]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return out

    def wait_for(self, pred, timeout: float = HANG_GUARD_S, after: int = 0) -> dict:
        """The first event (from index ``after``) matching ``pred``; fails on exit (or after
        ``timeout``, a guard against a hang, never a measurement)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evs = self.events()
            for i, ev in enumerate(evs[after:], after):
                if pred(ev):
                    ev["_index"] = i
                    return ev
            if self.proc.poll() is not None:
                raise AssertionError(f"drill exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for an event:\n{self.output()}")

    def recorded_s(self) -> float:
        """Seconds of call audio the drill has recorded (call.wav's header is kept current)."""
        import soundfile as sf

        try:
            return sf.info(str(self.out / "call.wav")).frames / 16000
        except (OSError, RuntimeError):
            return 0.0

    def wait_until(self, t: float, timeout: float = HANG_GUARD_S) -> None:
        """Wait until the call has reached ``t`` seconds on its own clock (what it recorded).

        A busy machine delays the drill's events and its audio alike, so "1 s into the
        customer's line" stays 1 s into the line however late the events are read."""
        deadline = time.monotonic() + timeout
        while self.recorded_s() < t:
            if self.proc.poll() is not None:
                raise AssertionError(f"drill exited ({self.proc.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the call never reached {t:.2f} s:\n{self.output()}")
            time.sleep(0.01)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self, timeout: float = HANG_GUARD_S) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=10)
        self._logfh.close()
        return rc

    def output(self, tail: int | None = None) -> str:
        """What the drill printed (its last ``tail`` characters; None: all of it)."""
        if not self._logfh.closed:
            self._logfh.flush()
        text = self.log.read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def meta(self) -> dict:
        return json.loads((self.out / "meta.json").read_text())


def first_sound(audio: np.ndarray, after: int = 0, rate: int = 16000, level_db: float = -40) -> int:
    """Sample of the first 10 ms block louder than ``level_db`` dBFS at or after ``after``."""
    hop = rate // 100
    thr = 10 ** (level_db / 20)
    for i in range(after - after % hop, audio.size - hop, hop):
        if np.sqrt(np.mean(audio[i : i + hop].astype(np.float64) ** 2)) > thr:
            return i
    return -1


def first_silence(
    audio: np.ndarray, after: int = 0, min_s: float = 0.4, rate: int = 16000, level_db: float = -40
) -> int:
    """Sample where the first stretch of at least ``min_s`` quieter than ``level_db`` begins at
    or after ``after`` (the end of the audio if there is none)."""
    hop = rate // 100
    thr = 10 ** (level_db / 20)
    quiet_from, need = None, int(min_s * rate)
    for i in range(after - after % hop, audio.size - hop, hop):
        if np.sqrt(np.mean(audio[i : i + hop].astype(np.float64) ** 2)) > thr:
            quiet_from = None
        elif quiet_from is None:
            quiet_from = i
        if quiet_from is not None and i + hop - quiet_from >= need:
            return quiet_from
    return audio.size if quiet_from is None else quiet_from
