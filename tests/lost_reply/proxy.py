"""A loopback TCP proxy that forwards a request and then loses its reply, once, on purpose.

It sits between a store client (or an HTTP client) and a real server. Armed
with a trigger (bytes the request carries, e.g. the presented token's id),
it forwards the request whose bytes contain the trigger, waits until the
server's reply is complete (the server has acted: for PostgreSQL its
ReadyForQuery, so the implicit transaction has committed), throws that
reply away and cuts the connection. The client sees a dead connection
after the server committed: the lost reply of issue 12.

Deterministic: nothing depends on timing, only on the bytes seen. The
proxy binds 127.0.0.1 on a free port and serves each connection with two
pump threads; :meth:`LossyProxy.stop` closes everything it opened.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

__all__ = [
    "LossyProxy",
    "Trap",
    "any_reply",
    "mysql_packet",
    "postgres_ready",
    "redis_noscript",
]

#: How long a pump waits for bytes before it checks whether the proxy stopped.
_POLL = 0.2
#: How long :meth:`LossyProxy.stop` waits for each thread.
_JOIN = 5.0
_CHUNK = 65536

Predicate = Callable[[bytes], bool]


def any_reply(data: bytes) -> bool:
    """A reply has begun: enough for Redis, MariaDB and HTTP, which answer after acting."""
    return bool(data)


def postgres_ready(data: bytes) -> bool:
    """The reply ends with ReadyForQuery: the server finished the request, commit included."""
    return len(data) >= 6 and data[-6:-1] == b"Z\x00\x00\x00\x05" and data[-1:] in b"IET"


def mysql_packet(data: bytes) -> bool:
    """One whole MySQL packet (3-byte length, sequence number, payload) has arrived."""
    return len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[:3], "little")


def redis_noscript(data: bytes) -> bool:
    """Redis lost its script cache: the client re-sends with EVAL, so the trap waits for that."""
    return data.startswith(b"-NOSCRIPT")


@dataclass
class Trap:
    """What to lose: the reply to the first request carrying ``trigger``.

    With ``after``, only a request on a connection that earlier carried
    ``after`` counts (MariaDB: the COMMIT of the transaction that read the
    token). ``complete`` says when the whole reply arrived (it is dropped
    then); a reply ``spare`` accepts is delivered and the trap re-armed.
    ``on_fire`` runs after the reply arrived and before the connection is
    cut (e.g. ``kill -9`` the server).
    """

    trigger: bytes
    after: bytes | None = None
    complete: Predicate = any_reply
    spare: Predicate | None = None
    on_fire: Callable[[], object] | None = None


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: socket.socket
    server: socket.socket
    seen_after: bool = False
    trap: Trap | None = None
    tail: bytes = b""
    threads: list[threading.Thread] = field(default_factory=list)

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class LossyProxy:
    """Forward 127.0.0.1:<port> to ``upstream``; :meth:`arm` loses one reply."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)
        self.host, self.port = "127.0.0.1", int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._armed: Trap | None = None
        self._links: list[_Link] = []
        self._stopping = threading.Event()
        #: Set once an armed trap dropped a reply and cut its connection.
        self.fired = threading.Event()
        #: Replies dropped so far.
        self.drops = 0
        self._acceptor = threading.Thread(target=self._accept, name="lossy-proxy", daemon=True)

    # -------------------------------------------------------------- control

    def start(self) -> LossyProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; wait (bounded) for the threads."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._acceptor.join(_JOIN)
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()
        for link in links:
            for thread in link.threads:
                thread.join(_JOIN)

    def __enter__(self) -> LossyProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def arm(self, trap: Trap) -> None:
        """Lose the reply to the next request that carries ``trap.trigger`` (once)."""
        with self._lock:
            self._armed = trap
            self.fired.clear()
            for link in self._links:
                link.seen_after = False

    @property
    def armed(self) -> bool:
        """Whether a trap waits for its trigger."""
        with self._lock:
            return self._armed is not None

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    # ---------------------------------------------------------------- pumps

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(_POLL)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, server)
            link.threads = [
                threading.Thread(target=self._requests, args=(link,), daemon=True),
                threading.Thread(target=self._replies, args=(link,), daemon=True),
            ]
            with self._lock:
                if self._stopping.is_set():
                    link.close()
                    return
                self._links.append(link)
            for thread in link.threads:
                thread.start()

    def _receive(self, sock: socket.socket) -> bytes | None:
        """The next bytes from ``sock``; None when it closed or the proxy stops."""
        while not self._stopping.is_set():
            try:
                data = sock.recv(_CHUNK)
            except TimeoutError:
                continue
            except OSError:
                return None
            return data or None
        return None

    def _requests(self, link: _Link) -> None:
        """Client to server: forward everything, and spring the armed trap on its trigger."""
        while (data := self._receive(link.client)) is not None:
            seen = link.tail + data
            with self._lock:
                trap = self._armed
                if trap is not None and link.trap is None:
                    rest = seen
                    if trap.after is not None and not link.seen_after and trap.after in seen:
                        link.seen_after = True
                        rest = seen[seen.index(trap.after) + len(trap.after) :]
                    if (trap.after is None or link.seen_after) and trap.trigger in rest:
                        link.trap, self._armed = trap, None
                keep = max(len(trap.trigger), len(trap.after or b"")) - 1 if trap else 0
                link.tail = seen[-keep:] if keep > 0 else b""
            try:
                link.server.sendall(data)
            except OSError:
                break
        link.close()

    def _replies(self, link: _Link) -> None:
        """Server to client: forward everything, except the reply a sprung trap loses."""
        held = b""
        while (data := self._receive(link.server)) is not None:
            with self._lock:
                trap = link.trap
            if trap is None:
                try:
                    link.client.sendall(data)
                except OSError:
                    break
                continue
            held += data
            if trap.spare is not None and trap.spare(held):
                with self._lock:
                    link.trap, self._armed = None, trap
                try:
                    link.client.sendall(held)
                except OSError:
                    break
                held = b""
                continue
            if not trap.complete(held):
                continue
            if trap.on_fire is not None:
                trap.on_fire()
            with self._lock:
                self.drops += 1
                link.trap = None
            self.fired.set()  # before the cut: the client learns of it only afterwards
            link.close()
            return
        link.close()
