"""A tiny local model runtime stand-in: HTTP on 127.0.0.1:11434 (Ollama's default port), and
also on [::1]:11434 when started with --ipv6.

Answers every request after a short delay so the endpoint poller sees the connection.
Runs until killed.
"""
import http.server
import json
import socket
import sys
import threading
import time


class H(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        n = int(self.headers.get("content-length") or 0)
        if n:
            self.rfile.read(n)
        time.sleep(0.4)
        body = json.dumps({"model": "lab", "done": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args):
        pass


class H6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


if "--ipv6" in sys.argv[1:]:
    threading.Thread(target=H6(("::1", 11434), H).serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", 11434), H).serve_forever()
