"""``voicesim mic-check``: is the microphone there, loud enough, not clipping, understood?"""

from __future__ import annotations

import math
import queue
import time

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..audio.formats import RATE, resample
from ..speech.transcriber import Transcriber, TranscriberOptions
from ..speech.vad import Endpointer, VadConfig
from . import devices as _devices
from .devices import DeviceError, _quiet_stderr
from .view import meter

SILENT_PEAK_DB = -50.0  # a microphone whose loudest sample stays under this hears nothing
QUIET_SPEECH_DB = -40.0  # speech RMS under this is hard for the VAD and Whisper
CLIP_LEVEL = 0.99  # samples at or above this are clipped
CLIP_FRACTION = 0.001  # more than this share of samples clipped is worth a warning


def _db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-6))


def record(device, seconds: float, samplerate: int | None, console: Console) -> tuple:
    sd = _devices.sounddevice()
    rates = [samplerate] if samplerate else [48_000, 44_100, int(device.samplerate), 16_000]
    q: queue.Queue = queue.Queue()
    stream = None
    for rate in dict.fromkeys(r for r in rates if r):
        try:
            with _quiet_stderr():
                stream = sd.InputStream(
                    device=device.index,
                    samplerate=rate,
                    channels=1,
                    dtype="float32",
                    latency="high",
                    callback=lambda indata, frames, t, status: q.put(indata[:, 0].copy()),
                )
            break
        except (sd.PortAudioError, ValueError) as exc:
            last = exc
    if stream is None:
        raise DeviceError(f"cannot open {device.label()} for recording: {last}")
    blocks: list[np.ndarray] = []
    level = [-120.0]
    rate = int(stream.samplerate)

    def status() -> Text:
        t = Text("recording ")
        t.append_text(meter(level[0]))
        t.append(f" {level[0]:6.1f} dBFS  {sum(b.size for b in blocks) / rate:4.1f} s")
        return t

    need = int(seconds * rate)
    live = Live(status(), console=console, refresh_per_second=10, transient=True)
    with stream:
        if console.is_terminal:
            live.start()
        try:
            deadline = time.monotonic() + seconds + 5
            while sum(b.size for b in blocks) < need:
                try:
                    block = q.get(timeout=0.5)
                except queue.Empty:
                    if time.monotonic() > deadline:
                        raise DeviceError(f"{device.label()} delivered no audio") from None
                    continue
                if not blocks:  # the microphone is live: say so (a script may wait for it)
                    console.print("[dim]listening...[/dim]")
                blocks.append(block)
                level[0] = _db(float(np.sqrt(np.mean(block.astype(np.float64) ** 2))))
                live.update(status())
        finally:
            live.stop()
    audio = np.concatenate(blocks)[:need] if blocks else np.zeros(0, np.float32)
    return audio, rate


def mic_check(
    input_device: str | None,
    seconds: float,
    samplerate: int | None = None,
    transcriber_options: TranscriberOptions | None = None,
    vad_aggressiveness: int = 2,
    console: Console | None = None,
    save: str | None = None,
) -> dict:
    console = console or Console(highlight=False)
    device = _devices.resolve(input_device, "input")
    console.print(
        f"[bold]mic-check[/]: recording {seconds:g} s from [bold]{device.name}[/] - say a sentence"
    )
    audio, rate = record(device, seconds, samplerate, console)
    if save:
        import soundfile as sf

        sf.write(save, audio, rate, subtype="PCM_16")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    clipped = float(np.mean(np.abs(audio) >= CLIP_LEVEL)) if audio.size else 0.0
    mono16 = resample(audio, rate, RATE)
    endpointer = Endpointer(VadConfig(aggressiveness=vad_aggressiveness))
    utterances = [e.utterance for e in endpointer.process(mono16) if e.utterance is not None]
    utterances += [e.utterance for e in endpointer.flush() if e.utterance is not None]
    speech = np.concatenate([mono16[u.start : u.end] for u in utterances]) if utterances else None
    speech_db = (
        _db(float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))) if speech is not None else None
    )
    warnings: list[str] = []
    if _db(peak) < SILENT_PEAK_DB:
        warnings.append(
            f"the microphone is silent (peak {_db(peak):.0f} dBFS): is it muted, or the wrong "
            "device? (see `voicesim devices`)"
        )
    elif not utterances:
        warnings.append("no speech was heard: speak during the recording, close to the microphone")
    elif speech_db is not None and speech_db < QUIET_SPEECH_DB:
        warnings.append(
            f"speech is quiet ({speech_db:.0f} dBFS): raise the microphone gain or move closer"
        )
    if clipped > CLIP_FRACTION:
        warnings.append(
            f"the microphone clips ({clipped:.1%} of samples at full scale): lower its gain"
        )
    text = ""
    if utterances:
        transcriber = Transcriber(transcriber_options)
        text = " ".join(
            transcriber.transcribe(u.audio, u.audio_start / RATE).text for u in utterances
        ).strip()
    result = {
        "device": device.name,
        "samplerate": rate,
        "seconds": round(audio.size / rate, 2),
        "peak_dbfs": round(_db(peak), 1),
        "speech_dbfs": None if speech_db is None else round(speech_db, 1),
        "speech_s": round(sum(u.end - u.start for u in utterances) / RATE, 2),
        "clipped_fraction": round(clipped, 5),
        "transcript": text,
        "warnings": warnings,
    }
    console.print(
        f"level: peak [bold]{result['peak_dbfs']:.1f}[/] dBFS"
        + (f", speech {speech_db:.1f} dBFS" if speech_db is not None else "")
        + f", {result['speech_s']:.1f} s of speech"
    )
    console.print(f"heard: [bold]{text}[/]" if text else "heard: [dim](no words)[/dim]")
    for w in warnings:
        console.print(f"[bold yellow]warning[/]: {w}")
    if not warnings:
        console.print("[green]the microphone is fine[/]")
    return result
