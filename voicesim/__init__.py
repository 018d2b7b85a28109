"""voicesim: an offline voice-call training simulator for contact-center agents."""

__version__ = "0.1.0"
