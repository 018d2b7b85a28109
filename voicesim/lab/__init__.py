"""The training lab: a server for a room of stations, a store, a trainer dashboard.

* ``store``: SQLAlchemy models, the database (SQLite by default, PostgreSQL by URL) and its
  versioned schema migrations, password hashing (argon2) and expiring session tokens;
* ``archive``: checks and unpacks an uploaded session archive (zip or tar);
* ``app``: the FastAPI app, put together from ``routes/`` (auth, cohorts and drills, sessions
  and uploads, pages) with the dependencies of ``deps`` (the database, the current user and
  role), the shared rules of ``service``, the request bodies of ``models``, the upload pipeline
  of ``uploads`` and the sign-in throttle and headers of ``security``; ``pages`` draws pages;
* ``library``: the personas and rubrics drills name (bundled or added by trainers), and the
  server's scoring of an upload; ``editor`` and ``persona_editor``: their forms in the browser;
* ``client``: the station's uploader with an outbox that keeps failed uploads for retry;
* ``commands``: ``voicesim lab serve | add-trainer | upload | drills``.
"""
