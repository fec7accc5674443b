"""A local trial worker: ``python -m modelport.tuning.worker FD``, talking to its runner over a socket.

Runs trials one after another; while one runs, a thread beats every second,
and ``report`` waits for the runner's answer (prune or go on).  When the
runner goes away (``kill -9``), the socket closes and the worker exits.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from modelport.tuning.engines import BEAT_S, Report
from modelport.tuning.trials import run_trial


def serve(conn: Connection) -> None:
    lock = threading.Lock()

    def send(message: Any) -> None:
        try:
            with lock:
                conn.send(message)
        except OSError:  # the runner is gone: nobody wants this trial any more
            os._exit(1)

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
                os._exit(1)

        result = run_trial(task, report)
        running.clear()
        send(("done", result))


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
