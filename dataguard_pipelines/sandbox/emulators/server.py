"""Run an emulator app under uvicorn in a background thread on a free loopback port.

Real sockets, so clients exercise their httpx transport, timeouts and retries exactly as against the vendor;
only the base URL differs. The port is bound before the thread starts, so `.base_url` is known at once and
two servers never race for a port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from dataguard_pipelines.sandbox.emulators.calcom import CalcomApp
from dataguard_pipelines.sandbox.emulators.faults import Faults
from dataguard_pipelines.sandbox.emulators.retell import RetellApp
from dataguard_pipelines.sandbox.emulators.state import EmulatorState

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class EmulatorServer:
    """A started/stopped uvicorn server for one emulator app; use as a context manager."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0):
        """`app` is a CalcomApp or RetellApp (anything ASGI; its `base_path` joins the base URL)."""
        self.app = app
        self.host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """Where a client points: `http://127.0.0.1:PORT/v2` for Cal.com, `http://127.0.0.1:PORT` for Retell."""
        if not self.port:
            raise RuntimeError("the emulator server is not started; call start() or use it in a with block")
        return f"http://{self.host}:{self.port}{getattr(self.app, 'base_path', '')}"

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"emulator-{sock.getsockname()[1]}",
            daemon=True,
        )
        self._socket, self._server, self._thread = sock, server, thread
        self.port = sock.getsockname()[1]
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive():
                self._cleanup()
                raise RuntimeError(
                    f"the emulator server on port {self.port} failed to start; see the log above"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the emulator server on port {self.port} did not start in {_START_TIMEOUT_S} s"
                )
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; calling it again does nothing."""
        if self._thread is None:
            return
        assert self._server is not None
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_S)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket, self._server, self._thread = None, None, None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_emulators(
    state: EmulatorState,
    *,
    calcom_rate_limit: int = 120,
    calcom_rate_window_s: float = 60.0,
    retell_rate_limit: int = 0,
    retell_rate_window_s: float = 1.0,
) -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    """Both emulators over one state, started for the block: `(calcom_server, retell_server)`."""
    calcom = CalcomApp(state, rate_limit=calcom_rate_limit, rate_window_s=calcom_rate_window_s)
    retell = RetellApp(state, rate_limit=retell_rate_limit, rate_window_s=retell_rate_window_s)
    with EmulatorServer(calcom) as calcom_server, EmulatorServer(retell) as retell_server:
        yield calcom_server, retell_server
