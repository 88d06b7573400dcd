"""Command line: `python -m dbconn db up|down|status|run -- CMD ...`."""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbconn")
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser("db", help="the lab's database server")
    db.add_argument("action", choices=["up", "down", "status", "run"])
    db.add_argument("cmd", nargs=argparse.REMAINDER, help="with `run`: the command to run while a server answers")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
