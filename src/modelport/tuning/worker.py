"""A local trial worker: ``python -m modelport.tuning.worker FD``, talking to its runner over a socket.

Runs trials one after another; while one runs, a thread beats every second,
and ``report`` waits for the runner's answer (prune or go on).  When the
runner goes away (``kill -9``), the socket closes and the worker exits; told to stop (SIGTERM, as the
runner stops a trial), it first kills the trial's command with everything the command started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from modelport.tuning.engines import BEAT_S, Report
from modelport.tuning.trials import kill_commands, run_trial


def _exit() -> NoReturn:
    """Leave now, and take the running trial's command (and what it started) along."""
    kill_commands()
    os._exit(1)


def serve(conn: Connection) -> None:
    lock = threading.Lock()
    for sig in (signal.SIGTERM, signal.SIGINT):  # the runner stops a trial with SIGTERM; Ctrl-C in a terminal
        signal.signal(sig, lambda signum, frame: _exit())

    def send(message: Any) -> None:
        try:
            with lock:
                conn.send(message)
        except OSError:  # the runner is gone: nobody wants this trial any more
            _exit()

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        running = threading.Event()
        running.set()

        def beat(number: int = task.number, running: threading.Event = running) -> None:
            while running.is_set():
                send(("beat", number))
                time.sleep(BEAT_S)

        threading.Thread(target=beat, daemon=True).start()

        def report(step: int, value: float, number: int = task.number) -> bool:
            send(("report", Report(number, step, value)))
            try:
                return bool(conn.recv())
            except (EOFError, OSError):
                _exit()

        result = run_trial(task, report)
        running.clear()
        send(("done", result))


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
