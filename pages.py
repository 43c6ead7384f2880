"""Small server-rendered HTML pages: sign-in errors, the OAuth sign-in choice
and the consent page. Every value is escaped."""

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


CONSENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect {client} · MemoryGate</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2937}}
h1{{font-size:1.4rem}}.box{{border:1px solid #e5e7eb;border-radius:.5rem;padding:1rem;margin:1rem 0}}
form{{display:inline}}button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:.4rem;
border:1px solid #9ca3af;background:#fff;cursor:pointer}}button.primary{{background:#2563eb;color:#fff;
border-color:#2563eb}}code{{background:#f3f4f6;padding:.1rem .3rem;border-radius:.2rem}}</style></head>
<body><h1>Connect <strong>{client}</strong> to your memory?</h1>
<div class="box"><p>Signed in as <strong>{user}</strong>.</p>
<p><strong>{client}</strong> will be able to: {scopes}.</p>
<p>After you decide, you will be sent to <code>{redirect_host}</code>.</p></div>
<form method="post" action="/oauth/consent"><input type="hidden" name="request" value="{request_id}">
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="decision" value="approve">
<button class="primary" type="submit">Allow</button></form>
<form method="post" action="/oauth/consent"><input type="hidden" name="request" value="{request_id}">
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="decision" value="deny">
<button type="submit">Deny</button></form></body></html>"""

SIGN_IN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · MemoryGate</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2937}}
a.button,button{{display:block;margin:.6rem 0;padding:.6rem 1rem;border:1px solid #9ca3af;border-radius:.4rem;
background:#fff;color:#111827;text-decoration:none;font-size:1rem;text-align:left;width:100%}}</style></head>
<body><h1>Sign in to connect {client}</h1>{options}</body></html>"""

SCOPE_WORDS = {"memory:read": "read your memories", "memory:write": "store and change your memories"}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def consent_page(
    *, client: str, user: str, scopes: list[str], redirect_host: str, request_id: str, csrf: str
) -> HTMLResponse:
    html = CONSENT.format(
        client=escape(client),
        user=escape(user),
        scopes=escape(", ".join(SCOPE_WORDS.get(scope, scope) for scope in scopes)),
        redirect_host=escape(redirect_host),
        request_id=escape(request_id, quote=True),
        csrf=escape(csrf, quote=True),
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


def sign_in_page(*, client: str, login_links: dict[str, str], local_request_id: str | None) -> HTMLResponse:
    options = [
        f'<a class="button" href="{escape(url, quote=True)}">Continue with {escape(name.title())}</a>'
        for name, url in login_links.items()
    ]
    if local_request_id is not None:
        options.append(
            '<form method="post" action="/oauth/local-login">'
            f'<input type="hidden" name="request" value="{escape(local_request_id, quote=True)}">'
            '<button type="submit">Continue as the local owner (this computer only)</button></form>'
        )
    return HTMLResponse(SIGN_IN.format(client=escape(client), options="".join(options)), headers=PAGE_HEADERS)
