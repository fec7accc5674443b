"""A small web application that calls a modelport endpoint: the seed's ``web_app.py``, with no framework.

Its users fill a form; the application sends the row to the endpoint over HTTP, exactly as any application
would (``POST /endpoints/{name}/invocations`` with a bearer token), and shows the prediction.

    MODELPORT_URL=http://127.0.0.1:8080 MODELPORT_TOKEN=mp_... \\
        python examples/webapp/app.py --endpoint churn-api --columns age,income,plan --port 8501

Only the standard library: it runs wherever Python does, next to modelport or far from it.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
label{{display:block;margin-top:.6rem;font-weight:600}}input{{font:inherit;padding:.3rem;width:100%}}
button{{margin-top:1rem;font:inherit;padding:.4rem 1rem}}.answer{{background:#dafbe1;padding:.6rem}}
.problem{{background:#ffebe9;padding:.6rem}}</style></head>
<body><h1>{title}</h1>
<form method="post">{fields}<button type="submit">Predict</button></form>
{answer}
</body></html>"""


def value(text: str) -> object:
    """A number when the text is one; the text otherwise (the endpoint checks types against its signature)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Predictor:
    """Calls one endpoint: what the application knows about modelport is its URL, a token and a JSON body."""

    def __init__(self, url: str, token: str | None, endpoint: str) -> None:
        self.url = f"{url.rstrip('/')}/endpoints/{endpoint}/invocations"
        self.token = token

    def predict(self, row: dict[str, object]) -> tuple[int, dict[str, object], str, float]:
        """(HTTP status, JSON answer, variant that answered, milliseconds)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url, data=json.dumps({"dataframe_records": [row]}).encode(), headers=headers, method="POST"
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body, variant = response.status, response.read(), response.headers.get("x-amzn-invoked-production-variant", "")
        except urllib.error.HTTPError as exc:
            status, body, variant = exc.code, exc.read(), ""
        return status, json.loads(body or b"{}"), variant, (time.perf_counter() - started) * 1000


def make_handler(predictor: Predictor, columns: list[str], title: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def page(self, values: dict[str, str], answer: str = "") -> None:
            fields = "".join(
                f'<label for="{html.escape(c)}">{html.escape(c)}</label>'
                f'<input id="{html.escape(c)}" name="{html.escape(c)}" value="{html.escape(values.get(c, ""))}" required>'
                for c in columns
            )
            body = PAGE.format(title=html.escape(title), fields=fields, answer=answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.page({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            status, answer, variant, ms = predictor.predict({c: value(form.get(c, "")) for c in columns})
            if status == 200:
                prediction = answer["predictions"][0]  # type: ignore[index]
                label = prediction.get("label", prediction) if isinstance(prediction, dict) else prediction
                text = (
                    f'<p class="answer" role="status">Prediction: <strong id="prediction">{html.escape(str(label))}</strong>'
                    f" (variant {html.escape(variant)}, {ms:.0f} ms)</p>"
                )
            else:
                message = answer.get("OriginalMessage") or answer.get("message") or f"HTTP {status}"
                text = f'<p class="problem" role="alert">The model could not answer: {html.escape(str(message))}</p>'
            self.page(form, text)

        def log_message(self, format: str, *args: object) -> None:  # requests only, never form values
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="A web form in front of a modelport endpoint.")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--columns", required=True, help="the endpoint's input columns, comma-separated")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--title", default="Will this customer churn?")
    args = parser.parse_args()
    predictor = Predictor(os.environ.get("MODELPORT_URL", "http://127.0.0.1:8080"), os.environ.get("MODELPORT_TOKEN"), args.endpoint)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(predictor, args.columns.split(","), args.title))
    print(f"serving on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
