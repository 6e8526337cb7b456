"""A stand-in for a browser's push service and the browser behind it: an HTTP server on loopback
that takes what the app posts to a subscription's endpoint, with its own P-256 key pair and auth
secret, so a test can decrypt what arrived (RFC 8291, aes128gcm) and check the VAPID header."""

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Browser:
    """One subscribed browser: its keys, and its endpoint on the receiver."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def keys(self) -> dict:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    @property
    def subscription(self) -> dict:
        return {"endpoint": self.endpoint, "keys": self.keys}

    def decrypt(self, message: Received) -> dict:
        assert message.headers.get("content-encoding") == "aes128gcm", message.headers
        plain = http_ece.decrypt(message.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


class PushReceiver:
    """Answers 201 to every push, or the status set for a path (410 for a gone subscription)."""

    def __init__(self):
        self.received: list[Received] = []
        self.status: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.status.get(self.path, 201)
                if status < 300:
                    with receiver.lock:
                        receiver.received.append(
                            Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def browser(self, name: str) -> Browser:
        return Browser(endpoint=f"{self.origin}/push/{name}")

    def to(self, browser: Browser) -> list[Received]:
        path = browser.endpoint.removeprefix(self.origin)
        with self.lock:
            return [r for r in self.received if r.path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
