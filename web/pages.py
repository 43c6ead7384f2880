"""Server-rendered HTML: one Jinja2 environment (autoescaped) and the small
pages of the sign-in flows — messages, the OAuth sign-in choice and the
consent page — in the account page's look.

``render(template, **context)`` is what web/dashboard.py uses too, so every page
gets the same headers: no-store, and a CSP without inline scripts or styles.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from core.principal import RIGHTS

# Answers that carry a secret (a key, a token, a session) or a person's data.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def when(value: datetime | str | None, empty: str = "never") -> Markup:
    """A time as ``<time>``: UTC text that works without JavaScript, which
    /static/dashboard.js rewrites into the reader's own time zone."""
    if not value:
        return Markup(escape(empty))
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.astimezone(UTC)
    shown = moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0")
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(timespec="seconds"), shown)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def rights_in_words(scopes: list[str]) -> str:
    """ "read, write, forget" for a credential's scopes, in the order they build up."""
    return ", ".join(RIGHTS[scope].split(":")[0] for scope in RIGHTS if scope in scopes) or "none"


templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.filters["when"] = when
templates.env.filters["plural"] = plural
templates.env.filters["rights"] = rights_in_words

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_CSP = _CSP.format(form_action="'self'")
# Allow and Deny answer with a redirect to the client's own redirect URI, and
# Chromium applies form-action to where a form submission is redirected.
CONSENT_CSP = _CSP.format(form_action="'self' http: https:")


def render(template: str, *, status_code: int = 200, csp: str = PAGE_CSP, **context: Any) -> HTMLResponse:
    html = templates.get_template(template).render(**context)
    headers = {**NO_STORE, "Content-Security-Policy": csp, "X-Frame-Options": "DENY"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def message_page(title: str, message: str, *, status_code: int, home: str = "/dashboard") -> HTMLResponse:
    return render("message.html", status_code=status_code, title=title, message=message, home=home)


# A credential's choice in each space (memory/spaces.py reach_and_rights), on the consent page and for keys.
REACH_WORDS = (
    ("all", "all it may"),
    ("write", "reads and writes, never deletes"),
    ("read", "reads only"),
    ("none", "nothing"),
)


def consent_page(
    *,
    client: str,
    user: str,
    scopes: list[str],
    redirect_host: str,
    request_id: str,
    csrf: str,
    verified_host: str | None = None,
    problem: str | None = None,
    spaces: list[Any] | None = None,
) -> HTMLResponse:
    """The person sees each right the client asks for, ticked, and may untick
    any; and, with more than one space, chooses the spaces it reaches."""
    return render(
        "consent.html",
        csp=CONSENT_CSP,
        status_code=400 if problem else 200,
        client=client,
        user=user,
        rights=[(scope, RIGHTS.get(scope, scope)) for scope in scopes],
        redirect_host=redirect_host,
        verified_host=verified_host,
        request_id=request_id,
        csrf=csrf,
        problem=problem,
        spaces=spaces or [],
        reach_choices=REACH_WORDS,
    )


def sign_in_page(
    *, client: str, login_links: dict[str, str], local_request_id: str | None, local_csrf: str | None
) -> HTMLResponse:
    return render(
        "oauth_signin.html",
        client=client,
        login_links=login_links,
        local_request_id=local_request_id,
        local_csrf=local_csrf,
    )
