"""Showing calls to people: the live terminal view, the scorecard, (later) replay and HTML."""
