"""Command line:

    python -m dbconn db up|down|status|run -- CMD ...   the lab's database server
    python -m dbconn doctor [--url URL] [--processes N] [--threads N] [--json]
    python -m dbconn explain [TEXT]                     (or the text on stdin)
    python -m dbconn matrix                              every scenario x driver: Markdown tables
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from . import doctor, errors, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbconn")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the lab's database server")
    db.add_argument("action", choices=["up", "down", "status", "run"])
    db.add_argument("cmd", nargs=argparse.REMAINDER, help="with `run`: the command to run while a server answers")

    doc = commands.add_parser("doctor", help="read a server's connection settings and recommend pool settings")
    doc.add_argument("--url", help="mysql+pymysql://user:password@host:port/db (default: the MYSQL_* variables)")
    doc.add_argument("--processes", type=_positive, default=1, help="processes that each have a pool (default 1)")
    doc.add_argument("--threads", type=_positive, default=1, help="threads per process, for Django (default 1)")
    doc.add_argument("--json", action="store_true", help="print one JSON object (keys: see the doctor's page)")

    exp = commands.add_parser("explain", help="name an error from its message, a log or a whole traceback")
    exp.add_argument("text", nargs="*", help="the message (default: read stdin)")
    exp.add_argument("--json", action="store_true", help="print one JSON object: key, code, cause, url ...")

    commands.add_parser("matrix", help="run every error scenario through every driver; print the tables (Markdown)")

    args = parser.parse_args(argv)
    if args.command == "matrix":
        return run_matrix()
    if args.command == "doctor":
        return run_doctor(args)
    if args.command == "explain":
        return explain(" ".join(args.text) if args.text else _read_stdin(), as_json=args.json)
    try:
        if args.action == "up":
            print(server.up()[0])
        elif args.action == "down":
            print(server.down())
        elif args.action == "status":
            print(server.status())
        else:
            return run_with_server(args.cmd)
    except server.ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def run_matrix() -> int:
    """Print the driver page's tables; exit 1 (and say why) if a result is not what its
    scenario expects, so that a driver's changed behaviour fails the site build."""
    from . import matrix

    try:
        server.require()
        report = matrix.run()
    except server.ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(matrix.render_markdown(report))
    surprises = matrix.unexpected(report)
    for line in surprises:
        print(f"error: unexpected: {line}", file=sys.stderr)
    return 1 if surprises else 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def run_with_server(cmd: list[str]) -> int:
    """Run CMD while a server answers; stop the server afterwards if we started it."""
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        raise server.ServerError("`db run` needs a command: python -m dbconn db run -- pytest")
    message, started = server.up()
    print(message, flush=True)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130
    finally:
        if started:
            print(server.down(), flush=True)


def run_doctor(args) -> int:
    try:
        conn = doctor.connect(doctor.connection_args(args.url))
    except doctor.CannotConnect as exc:
        print(f"error: {exc}", file=sys.stderr)
        return doctor.CANNOT_CONNECT
    with conn:
        report = doctor.examine(conn, processes=args.processes, threads=args.threads)
    print(json.dumps(report, indent=2) if args.json else doctor.render(report))
    return doctor.URGENT if report["status"] == "urgent" else doctor.HEALTHY


def _read_stdin() -> str:
    if sys.stdin.isatty():
        print("Paste the error or traceback, then press Ctrl-D:", file=sys.stderr)
    return sys.stdin.read()


def explain(text: str, as_json: bool = False) -> int:
    """The error a message, log or traceback is about: its code, likely cause and the
    section that answers it (or, for an error this site does not cover yet, the best
    reference). Exit 1 with one line when nothing in the text is a known error."""
    if not text.strip():
        print("error: nothing to explain: give the error message or traceback as an argument or on stdin",
              file=sys.stderr)
        return 1
    found = errors.recognise(text)
    if found is None:
        print("error: no known MySQL or driver error in the text (see the site's error list for what it covers)",
              file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({**found.as_dict(), "url": found.url(), "covered": found.covered}, indent=2))
        return 0
    name = found.key if found.code is None else str(found.code)
    print(f"{name}: {found.title}")
    print(f"cause: {found.cause}")
    if found.covered:
        print(f"see:   {found.url()}")
    else:
        print(f"not covered on this site yet; see: {found.url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
