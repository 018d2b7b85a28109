"""The call loop: source -> pipeline -> persona -> recorder, the same for every source."""
