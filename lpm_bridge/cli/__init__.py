"""The ``lpm-bridge`` command line: one dispatcher, one module per family of commands.

* ``face``:   ``animate``, ``avatar inspect`` (appearance encoder and renderer)
* ``voice``:  ``motion``, ``train-motion`` (audio performance mapper)
* ``bridge``: ``render``, ``serve``, ``stream`` (pipeline, daemon, client)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc

from lpm_bridge import __version__
from lpm_bridge.errors import LPMError


def build_parser() -> argparse.ArgumentParser:
    from lpm_bridge.cli import bridge, face, voice

    parser = argparse.ArgumentParser(prog="lpm-bridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lpm-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (face, voice, bridge):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except LPMError as e:
        where = f" [{e.field}]" if e.field else ""
        print(f"lpm-bridge {args.command}: error{where}: {e}", file=sys.stderr)
        return 2
    except grpc.RpcError as e:  # a daemon answered with a status (its message names the field)
        status = e.code().name if hasattr(e, "code") else "UNKNOWN"
        details = e.details() if hasattr(e, "details") else str(e)
        print(f"lpm-bridge {args.command}: {status}: {details}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
