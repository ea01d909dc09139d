"""A loopback TCP proxy that can lose one reply: the request reaches Redis, its answer never does.

Between a client and one redis-server. Once :meth:`LossyProxy.lose_next_reply`
is called, the next request a client sends is forwarded, the server's reply
to it is read and thrown away, and that client connection is cut: the client
sees a connection error for a command the server applied, exactly a reply
lost on the network.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class LossyProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, losing replies on request."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._armed = False
        #: How many replies were lost so far.
        self.lost = 0
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> LossyProxy:
        self._accepting.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        self._accepting.join(timeout=5)

    def lose_next_reply(self) -> None:
        """Lose the reply to the next request any client sends through the proxy."""
        with self._lock:
            self._armed = True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._sockets += [client, upstream]
            losing = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, losing), daemon=True
            ).start()
            threading.Thread(
                target=self._replies, args=(upstream, client, losing), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, upstream: socket.socket, losing: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                with self._lock:
                    if self._armed:
                        self._armed = False
                        losing.set()
                upstream.sendall(data)
        _close(client, upstream)

    def _replies(
        self, upstream: socket.socket, client: socket.socket, losing: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if losing.is_set():
                    with self._lock:
                        self.lost += 1
                    break  # the server answered; the client never hears it
                client.sendall(data)
        _close(client, upstream)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
