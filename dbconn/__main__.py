"""Command line:

    python -m dbconn db up|down|status|run -- CMD ...   the lab's database server
    python -m dbconn doctor [--url URL] [--processes N] [--threads N] [--timeout S] [--json]
    python -m dbconn explain [TEXT]                     (or the text on stdin)
    python -m dbconn matrix                              every scenario x driver: Markdown tables
    python -m dbconn serve [--port N] [--directory DIR]  the built site, on 127.0.0.1
    python -m dbconn notebooks [--port N]                JupyterLab on the notebooks, on 127.0.0.1

Every failure is one line on stderr, "error: ...", that says what to do. Exit codes: see EXIT_CODES.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from . import apps, doctor, errors, registry, server, settings

EXIT_CODES = """\
exit codes:
  0    done (doctor: the server's settings are healthy)
  1    done, and it found a problem: doctor, an urgent recommendation; matrix, a
       result its scenario does not expect; explain, no known error in the text
  2    not done: bad input (a usage error, a malformed --url, MYSQL_PORT or
       DBCONN_SERVER), or no usable server (nothing answers, not MySQL, no greeting
       in time, credentials refused, cannot be started or stopped), or a port
       for serve or notebooks that is taken; the one line on stderr says which,
       and what to do
  127  db run: the command cannot be run (not found, not executable)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM)
  db run -- CMD exits with CMD's own status."""
FOUND_PROBLEM, NOT_DONE, CANNOT_RUN, INTERRUPTED, TERMINATED = 1, 2, 127, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that clean-ups run."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(NOT_DONE, f"error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Terminated:
        print("error: terminated", file=sys.stderr)
        return TERMINATED
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _raise_terminated(number, frame):
    raise Terminated()


def _main(argv: list[str] | None) -> int:
    parser = _Parser(prog="python -m dbconn", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the lab's database server", epilog=EXIT_CODES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    db.add_argument("action", choices=["up", "down", "status", "run"])
    db.add_argument("cmd", nargs=argparse.REMAINDER, help="with `run`: the command to run while a server answers")

    doc = commands.add_parser("doctor", help="read a server's connection settings and recommend pool settings",
                              epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    doc.add_argument("--url", help="mysql+pymysql://user:password@host:port/db (default: the MYSQL_* variables)")
    doc.add_argument("--processes", type=_positive, default=1, help="processes that each have a pool (default 1)")
    doc.add_argument("--threads", type=_positive, default=1, help="threads per process, for Django (default 1)")
    doc.add_argument("--timeout", type=_positive, default=doctor.TIMEOUT,
                     help=f"seconds for the connect and each step of the handshake (default {doctor.TIMEOUT})")
    doc.add_argument("--json", action="store_true", help="print one JSON object (keys: see the doctor's page)")

    exp = commands.add_parser("explain", help="name an error from its message, a log or a whole traceback")
    exp.add_argument("text", nargs="*", help="the message (default: read stdin)")
    exp.add_argument("--json", action="store_true", help="print one JSON object: key, code, cause, url ...")

    commands.add_parser("matrix", help="run every error scenario through every driver; print the tables (Markdown)")

    web = commands.add_parser("serve", help="serve the built site on 127.0.0.1 until Ctrl-C")
    web.add_argument("--port", type=_port, default=8000, help="default 8000")
    web.add_argument("--directory", type=Path, default=registry.ROOT / "_build" / "html", help="default _build/html")

    lab = commands.add_parser("notebooks", help="JupyterLab on the notebooks folder, on 127.0.0.1")
    lab.add_argument("--port", type=_port, default=8888, help="default 8888")

    args = parser.parse_args(argv)
    try:
        if args.command == "matrix":
            return run_matrix()
        if args.command == "doctor":
            return run_doctor(args)
        if args.command == "explain":
            return explain(" ".join(args.text) if args.text else _read_stdin(), as_json=args.json)
        if args.command == "serve":
            return apps.serve(args.directory, args.port)
        if args.command == "notebooks":
            return apps.notebooks(args.port)
        if args.action != "run" and args.cmd:
            parser.error(f"`db {args.action}` takes no arguments")
        if args.action == "up":
            print(server.up())
        elif args.action == "down":
            print(server.down())
        elif args.action == "status":
            print(server.status())
        else:
            return run_with_server(args.cmd)
    except (server.ServerError, settings.SettingError, registry.RegistryError, doctor.CannotConnect) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NOT_DONE
    except apps.CannotRun as exc:
        print(f"error: {exc}", file=sys.stderr)
        return CANNOT_RUN if args.command == "db" else NOT_DONE
    return 0


def run_matrix() -> int:
    """Print the driver page's tables; exit 1 (and say why) if a result is not what its
    scenario expects, so that a driver's changed behaviour fails the site build."""
    from . import matrix

    server.require()
    report = matrix.run()
    print(matrix.render_markdown(report))
    surprises = matrix.unexpected(report)
    for line in surprises:
        print(f"error: unexpected: {line}", file=sys.stderr)
    return FOUND_PROBLEM if surprises else 0


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _port(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def run_with_server(cmd: list[str]) -> int:
    """Run CMD while a server answers; stop the server afterwards if the lab started it
    and no other command of this checkout still uses it."""
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        raise server.ServerError("`db run` needs a command: python -m dbconn db run -- pytest")
    lease = server.acquire()
    print(lease.message, flush=True)
    try:
        return apps.run_foreground(cmd)
    finally:
        said = lease.release()
        if said:
            print(said, flush=True)


def run_doctor(args) -> int:
    conn = doctor.connect(doctor.connection_args(args.url, args.timeout))
    with conn:
        report = doctor.read(conn, processes=args.processes, threads=args.threads)
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
