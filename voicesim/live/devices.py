"""Audio devices: listing them, and resolving what the user asked for into one device each way.

Every failure here is a ``DeviceError`` (exit code 2) whose message names the devices that do
exist, so a trainee who picked the wrong headset sees what to type instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from dataclasses import dataclass

from ..errors import MissingDependencyError, VoicesimError


class DeviceError(VoicesimError):
    """No usable audio device, or not the one that was asked for."""


@dataclass
class Device:
    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    samplerate: float
    default_in: bool = False
    default_out: bool = False

    def label(self) -> str:
        return f"{self.index}: {self.name} ({self.hostapi})"


@contextlib.contextmanager
def _quiet_stderr():
    """ALSA prints a screenful of probing noise on stderr when PortAudio starts; hide it."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(fd, 2)
    finally:
        os.close(fd)


_ALSA_HANDLER = None


def _silence_alsa() -> None:
    """ALSA's library prints xrun recoveries ("underrun occurred") straight onto the terminal,
    through the live view; voicesim counts xruns itself, so give ALSA a handler that says
    nothing."""
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None:
        return
    try:
        asound = ctypes.cdll.LoadLibrary("libasound.so.2")
    except OSError:
        return
    handler_type = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )
    _ALSA_HANDLER = handler_type(lambda *_: None)  # kept alive for the process's life
    asound.snd_lib_error_set_handler(_ALSA_HANDLER)


def sounddevice():
    """Import sounddevice (PortAudio) with a clear error when the system library is missing."""
    _silence_alsa()
    try:
        with _quiet_stderr():
            import sounddevice as sd
    except OSError as exc:  # sounddevice raises OSError when libportaudio2 is missing
        raise MissingDependencyError(
            f"PortAudio is not available ({exc}); install it: sudo apt-get install libportaudio2"
        ) from None
    except ImportError as exc:
        raise MissingDependencyError(
            f"sounddevice is not installed ({exc}); run: make setup"
        ) from None
    return sd


def list_devices() -> list[Device]:
    sd = sounddevice()
    with _quiet_stderr():
        try:
            raw = sd.query_devices()
            apis = sd.query_hostapis()
            default_in, default_out = sd.default.device
        except sd.PortAudioError as exc:
            raise DeviceError(f"cannot list audio devices: {exc}") from None
    devices = []
    for d in raw:
        devices.append(
            Device(
                index=int(d["index"]),
                name=str(d["name"]),
                hostapi=str(apis[d["hostapi"]]["name"]),
                inputs=int(d["max_input_channels"]),
                outputs=int(d["max_output_channels"]),
                samplerate=float(d["default_samplerate"]),
                default_in=int(d["index"]) == default_in,
                default_out=int(d["index"]) == default_out,
            )
        )
    return devices


def describe(devices: list[Device], kind: str) -> str:
    """'0: pulse (ALSA), 1: default (ALSA)' for the devices that can do ``kind``."""
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    return ", ".join(d.label() for d in usable) or "none"


def resolve(spec: str | int | None, kind: str, devices: list[Device] | None = None) -> Device:
    """The device for ``kind`` ('input' or 'output'): an index, an exact name, a unique part of
    a name, or None for the system default."""
    devices = list_devices() if devices is None else devices
    channels = (lambda d: d.inputs) if kind == "input" else (lambda d: d.outputs)
    usable = [d for d in devices if channels(d) > 0]
    if not usable:
        found = ", ".join(d.label() for d in devices) or "none at all"
        raise DeviceError(
            f"no audio {kind} device found (devices: {found}); plug in a headset, or check that "
            "the sound server (PulseAudio/PipeWire) is running"
        )
    if spec is None or spec == "":
        default = [d for d in usable if (d.default_in if kind == "input" else d.default_out)]
        return default[0] if default else usable[0]
    text = str(spec).strip()
    if text.isdigit():
        match = [d for d in devices if d.index == int(text)]
    else:
        match = [d for d in devices if d.name == text] or [
            d for d in devices if text.lower() in d.name.lower()
        ]
    if len(match) > 1:
        names = ", ".join(d.label() for d in match)
        raise DeviceError(
            f"{kind} device {text!r} is ambiguous ({names}); give its number or full name"
        )
    if not match:
        raise DeviceError(
            f"no {kind} device {text!r}; available {kind} devices: {describe(devices, kind)}"
        )
    if channels(match[0]) == 0:
        raise DeviceError(
            f"{match[0].label()} has no {kind} channels; available {kind} devices: "
            f"{describe(devices, kind)}"
        )
    return match[0]
