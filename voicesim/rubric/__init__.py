"""The rubric: one detector library (shared with personas), criteria, and the scorer."""
