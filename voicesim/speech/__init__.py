"""Speech in and out: text-to-speech voices, voice activity detection, transcription."""
