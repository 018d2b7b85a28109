"""Headless Chromium (Debian's package) through Playwright, for the page tests, with a record of
every request that leaves the page's own origin: the report and the lab must work offline."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright, *extra_args: str):  # noqa: ANN001, ANN201
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])


def watch_requests(page, allowed: tuple[str, ...]) -> list[str]:  # noqa: ANN001
    """The URLs the page asks for outside ``allowed`` prefixes (``data:`` and ``blob:`` are
    always allowed), filled in as the page runs."""
    outside: list[str] = []
    ok = (*allowed, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(ok) else outside.append(r.url))
    return outside
