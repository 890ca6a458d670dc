"""Following a model server's log: an output widget with a Stop button, or plain lines.

In a widget frontend the lines are read by a background thread, so the notebook stays usable
and the Stop button is heard (a cell that blocks would keep the kernel from seeing the click).
Elsewhere (IPython in a terminal, a script) lines are printed until Ctrl-C.
"""
from __future__ import annotations

import threading
from typing import Any

from .client import LineStream, MerlinError
from .progress import in_widget_frontend


class LogView:
    """A running follow: ``stop()`` ends it; ``thread`` reads the stream."""

    def __init__(self, stream: LineStream, title: str):
        import ipywidgets

        self.stream = stream
        self.output = ipywidgets.Output(layout={"max_height": "300px", "overflow": "auto",
                                                "border": "1px solid var(--jp-border-color2, #ddd)"})
        self.status = ipywidgets.HTML(f"<b>{title}</b>: following")
        self.button = ipywidgets.Button(description="Stop", icon="stop", button_style="warning")
        self.button.on_click(lambda _button: self.stop())
        self.widget = ipywidgets.VBox([ipywidgets.HBox([self.button, self.status]), self.output])
        self.title = title
        self.thread = threading.Thread(target=self._read, name="merlin-logs", daemon=True)

    def start(self) -> LogView:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stream.close()
        self.button.disabled = True
        self.status.value = f"<b>{self.title}</b>: stopped"

    def _read(self) -> None:
        try:
            for line in self.stream:
                self.output.append_stdout(line + "\n")
        except MerlinError as exc:
            self.output.append_stderr(f"{exc}\n")
        if not self.stream.closed:
            self.button.disabled = True
            self.status.value = f"<b>{self.title}</b>: the endpoint stopped writing (stream ended)"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def follow(stream: LineStream, title: str) -> Any:
    """Show the stream live: a LogView in a widget frontend, printed lines until Ctrl-C otherwise."""
    if in_widget_frontend():
        return LogView(stream, title).start()
    try:
        for line in stream:
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stream.close()
    return None
