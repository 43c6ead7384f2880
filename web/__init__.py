"""What a browser meets and what guards every request: the account page and
the other HTML pages (templates, static files), the pure-ASGI guards
(request ids, size limits, security headers, DNS rebinding, slow clients),
and the client's real address behind trusted proxies."""
