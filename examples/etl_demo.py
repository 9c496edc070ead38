"""Run examples/etl.json against a local HTTP server serving examples/data on 127.0.0.1:8765.

    python examples/etl_demo.py

The server runs in a thread of this process for exactly as long as the run.
"""

import functools
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagmill

HERE = Path(__file__).parent


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> int:
    handler = functools.partial(Quiet, directory=str(HERE / "data"))
    with ThreadingHTTPServer(("127.0.0.1", 8765), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            result = dagmill.run(HERE / "etl.json", scheduler="ready", keep_outputs=True)
        finally:
            server.shutdown()
    print(result.status, "-", result.nodes["summary"].output)
    print("written to", result.outputs["save"])
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
