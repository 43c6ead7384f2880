"""Small server-rendered HTML pages (sign-in errors), always escaped."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · MemoryGate</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2937}}
h1{{font-size:1.4rem}}a{{color:#2563eb}}</style></head>
<body><h1>{title}</h1><p>{message}</p><p><a href="{home}">Back to MemoryGate</a></p></body></html>"""


def message_page(title: str, message: str, *, status_code: int, home: str = "/") -> HTMLResponse:
    html = PAGE.format(title=escape(title), message=escape(message), home=escape(home, quote=True))
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )
