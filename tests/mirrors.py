"""A dataset mirror over HTTP on 127.0.0.1 for the download tests: one good, many broken.

`/good/NAME` serves an archive; every other prefix misbehaves in one way:
`missing` (404), `error` (500), `cut` (body cut short), `corrupt` (valid gzip of the
wrong bytes), `stall` (a few bytes, then silence), `endless` (valid gzip that never
ends, no Content-Length) and `oversized` (a Content-Length far beyond any file).
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import time
import zlib
from collections.abc import Iterator
from typing import ClassVar


class Mirror(http.server.BaseHTTPRequestHandler):
    # Set per server by serve().
    archives: ClassVar[dict[str, bytes]]
    stall_seconds: ClassVar[float]
    endless_sent: ClassVar[list[int]]  # bytes of body each endless response wrote
    endless_cap = 512 << 20  # the endless body gives up here if nothing stops the download

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        body = self.archives.get(name)
        if body is None or mode == "missing":
            self.send_error(404)
            return
        if mode == "error":
            self.send_error(500)
            return
        if mode == "corrupt":
            body = gzip.compress(gzip.decompress(body)[:-1] + b"\xff", mtime=0)
        self.send_response(200)
        if mode == "endless":
            self.end_headers()
            self.endless()
            return
        size = 10**12 if mode == "oversized" else len(body)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if mode == "cut":
            self.wfile.write(body[: len(body) // 2])
        elif mode == "stall":
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(self.stall_seconds)
        elif mode in ("good", "corrupt"):
            self.wfile.write(body)

    def endless(self):
        packer = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # stored: no shrinking
        block = bytes(range(256)) * 4096
        sent = 0
        try:
            while sent < self.endless_cap:
                chunk = packer.compress(block)
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.endless_sent.append(sent)


@contextlib.contextmanager
def serve(
    archives: dict[str, bytes], stall_seconds: float, endless_sent: list[int] | None = None
) -> Iterator[str]:
    """Run a mirror of `archives`; yield its URL. Endless bodies' sizes go to `endless_sent`."""
    sent = [] if endless_sent is None else endless_sent
    handler = type(
        "ThisMirror",
        (Mirror,),
        {"archives": archives, "stall_seconds": stall_seconds, "endless_sent": sent},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
