"""A real SMTP server on 127.0.0.1, on a thread, that keeps what it is sent (tests only).

It speaks just enough of RFC 5321 for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
`reject_data` makes it answer a message with 554, as a relay refusing it would.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_to: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class SmtpSink:
    """What the server received, and whether it refuses the next messages."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    reject_data: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        sink = self.server.sink
        self.reply("220 sink.example.test ESMTP")
        mail_from, rcpts = "", list[str]()
        while line := self.rfile.readline():
            verb, _, arg = line.decode("ascii", "replace").strip().partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink.example.test")
            elif verb == "MAIL":
                mail_from, rcpts = arg.partition(":")[2].strip("<> "), []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(arg.partition(":")[2].strip("<> "))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    kept = chunk[1:] if chunk.startswith(b"..") else chunk
                    data.append(kept.replace(b"\r\n", b"\n"))  # stored as a mailbox would
                with sink.lock:
                    if sink.reject_data:
                        self.reply("554 rejected for the test")
                        continue
                    sink.received.append(Received(mail_from, rcpts, b"".join(data)))
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        super().__init__((sink.host, 0), _Handler)


@contextmanager
def running_sink() -> Iterator[SmtpSink]:
    """An SMTP sink listening on 127.0.0.1 (a free port) until the block ends."""
    sink = SmtpSink()
    server = _Server(sink)
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="smtp-sink", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
