"""Audio formats, the call sources (simulated, live, recorded) and the session recorder."""
