"""Small HTML pages for browser flows: sign-in and accepting an invitation."""

from html import escape
from urllib.parse import parse_qs

from chalice import Response
from chalice.app import Request

from chalicelib.errors import UnsupportedMediaType

FORM_TYPE = "application/x-www-form-urlencoded"
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;"
    "padding:0 1rem}label{display:block;margin:.75rem 0 .25rem}"
    "input{width:100%;padding:.4rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}"
    "code{word-break:break-all}"
)


def page(title: str, body: str, status: int = 200) -> Response:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Mastra platform</title><style>{_STYLE}</style>"
        f"</head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(
        body=html,
        status_code=status,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
            ),
            "Referrer-Policy": "no-referrer",
        },
    )


def message(title: str, text: str, status: int) -> Response:
    return page(title, f"<p>{escape(text)}</p>", status)


def hidden(name: str, value: str) -> str:
    return f'<input type=hidden name="{escape(name)}" value="{escape(value)}">'


def field(name: str, label: str, kind: str = "text", required: bool = True) -> str:
    need = " required" if required else ""
    return (
        f'<label for="{name}">{escape(label)}</label>'
        f'<input id="{name}" name="{name}" type="{kind}"{need}>'
    )


def error_line(text: str | None) -> str:
    return f'<p class="error" role="alert">{escape(text)}</p>' if text else ""


def is_form(request: Request) -> bool:
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == FORM_TYPE


def form(request: Request) -> dict[str, str]:
    """The fields of an HTML form post (the first value of each)."""
    if not is_form(request):
        raise UnsupportedMediaType(f"Send the form as {FORM_TYPE}.")
    raw_body = request.raw_body or b""
    raw = (
        raw_body.decode("utf-8", "replace") if isinstance(raw_body, bytes) else raw_body
    )
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
