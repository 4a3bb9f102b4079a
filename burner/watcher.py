"""Watch approved/ with watchdog; network shares deliver no events, so the station rescans too."""

from __future__ import annotations

import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event):
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.wake.set()


class SpoolWatcher:
    """Sets `wake` whenever something changes in `folder`."""

    def __init__(self, folder: Path, wake: threading.Event):
        self.observer = Observer()
        self.observer.schedule(_Wake(wake), str(folder), recursive=False)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
