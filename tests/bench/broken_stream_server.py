"""A server that answers the streaming benchmark's handler wrongly, in one of three ways.

``python broken_stream_server.py PORT MODE``: ``/ping`` answers 200; ``POST /invocations``
runs the benchmark's own generator and then, by MODE,

* ``sized``: sends its chunks joined as one body with Content-Length (not a stream);
* ``cut``: streams the first two chunks, then drops the connection (no terminating chunk);
* ``one``: sends every chunk joined as a single HTTP chunk (chunked, but no stream);
* ``error``: answers 500.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sagepack.bench.apps import ticker


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "sized"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = list(ticker.predict_fn(ticker.input_fn(body, ticker.CONTENT_TYPE), {}))
        if self.mode == "error":
            answer = json.dumps({"error": "broken on purpose"}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        elif self.mode == "sized":
            answer = b"".join(chunks)
            self.send_response(200)
            self.send_header("Content-Type", ticker.RESPONSE_TYPE)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        else:
            self.send_response(200)
            self.send_header("Content-Type", ticker.RESPONSE_TYPE)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks[:2] if self.mode == "cut" else [b"".join(chunks)]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if self.mode == "cut":
                self.close_connection = True
            else:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        return None


if __name__ == "__main__":
    Handler.mode = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
