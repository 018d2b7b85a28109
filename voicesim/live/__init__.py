"""The live headset drill: a full-duplex sound-card stream as the call source.

``source.LiveSource`` is the third source beside the simulated line and recordings: the
customer's voice goes to the headset and the microphone is captured in one sounddevice stream,
so both sit on one sample clock. Everything after the source is the shared pipeline.
"""
