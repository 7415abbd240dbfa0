"""``python -m gendl class``: the dashboard in class mode, one server for a whole class (``make class``).

    python -m gendl class                          # this machine only: http://localhost:8501/
    python -m gendl class --address 0.0.0.0        # every interface: students on the LAN join

It prints the students' link and the teacher's, which carries the teacher secret
(``$GENDL_TEACHER_TOKEN``, or a random one), then serves ``streamlit run dashboard.py`` on exactly
the address given until Ctrl-C. The repository's ``.streamlit/config.toml`` keeps usage statistics
off and the toolbar minimal.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gendl.cli_store import is_loopback
from gendl.errors import GendlError

REPO = Path(__file__).resolve().parent.parent  # dashboard.py and .streamlit/ live here
DEFAULT_ADDRESS, DEFAULT_PORT = "localhost", 8501
EVERY_INTERFACE = ("0.0.0.0", "::")


def class_links(address: str, port: int, token: str) -> list[str]:
    """What the teacher reads at start: the students' link, the teacher's, and a warning when the
    server answers beyond this machine."""
    host = socket.gethostname() if address in EVERY_INTERFACE else address
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    lines = [
        f"students: {base}",
        f"teacher:  {base}teacher?teacher={quote(token, safe='')}",
        "the teacher link carries the secret: keep it off the projector",
    ]
    if address in EVERY_INTERFACE:
        lines.append(f"{address} listens on every interface; the links use this machine's name")
    if not is_loopback(address):
        lines.append(f"warning: anyone who reaches {host}:{port} can join this class")
    return lines


def cmd_class(args: argparse.Namespace) -> int:
    from gendl.engine.classroom import CLASS_ENV, teacher_token

    if not (REPO / "dashboard.py").is_file():
        raise GendlError(f"no dashboard.py in {REPO}: run gendl class from a checkout of gendl")
    if args.runs_dir:  # the server's pages open the store the environment names
        os.environ["GENDL_RUNS_DIR"] = str(Path(args.runs_dir).resolve())
    os.environ[CLASS_ENV] = "1"
    for line in class_links(args.address, args.port, teacher_token()):  # sets the token's env
        print(line)
    print("Ctrl-C stops the server", flush=True)
    return serve(args.address, args.port)


def serve(address: str, port: int) -> int:
    """``streamlit run dashboard.py`` bound to ``address:port``, with this environment, until it
    ends; SIGINT or SIGTERM here stops it (a second one kills it). Returns its exit code."""
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py"]
    command += ["--server.address", address, "--server.port", str(port)]
    command += ["--server.headless", "true"]
    # its own session: a Ctrl-C in the terminal reaches it once, through this process
    server = subprocess.Popen(command, cwd=REPO, start_new_session=True)
    signals: list[int] = []

    def forward(number: int, frame: Any) -> None:
        signals.append(number)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM if len(signals) == 1 else signal.SIGKILL)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is an integer in [1, 65535], got {text!r}")
    return int(text)


def add_class_command(commands: Any, store: argparse.ArgumentParser) -> None:
    """The ``class`` subcommand; ``store`` holds the shared ``--runs-dir``."""
    classroom = commands.add_parser(
        "class", parents=[store], help="serve the dashboard to a class, with a teacher link"
    )
    classroom.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"address to bind (default {DEFAULT_ADDRESS}; 0.0.0.0 for every interface, a LAN)",
    )
    classroom.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    classroom.set_defaults(func=cmd_class)
