"""Customer personas: the file format, the library on disk, and the dialogue + mood engine."""
