#!/usr/bin/env python3
"""Regenerate the committed Python stubs of protos/lpm/bridge/v1/bridge.proto.

    python scripts/gen_protos.py            # rewrite lpm_bridge/_proto/
    python scripts/gen_protos.py --check    # exit 1 if the committed stubs are stale

protoc writes ``lpm/bridge/v1/bridge_pb2*.py`` with an absolute import
(``from lpm.bridge.v1 import bridge_pb2``) that only works with ``protos/`` on
sys.path; the stubs are flattened into ``lpm_bridge/_proto/`` and that import is
made relative so they work inside the installed package.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PROTO = "lpm/bridge/v1/bridge.proto"
OUT = ROOT / "lpm_bridge" / "_proto"
FILES = ("bridge_pb2.py", "bridge_pb2.pyi", "bridge_pb2_grpc.py")
INIT = '"""Generated gRPC stubs of protos/lpm/bridge/v1/bridge.proto (scripts/gen_protos.py)."""\n'


def generate() -> dict[str, str]:
    """Run protoc and return {file name: fixed source} for the stubs."""
    from grpc_tools import protoc  # dev dependency: grpcio-tools

    with tempfile.TemporaryDirectory() as tmp:
        include = Path(protoc.__file__).parent / "_proto"
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"-I{include}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}",
                str(PROTO_ROOT / PROTO),
            ]
        )
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        gen = Path(tmp) / Path(PROTO).parent
        out = {name: (gen / name).read_text() for name in FILES}
    out["bridge_pb2_grpc.py"] = re.sub(
        r"^from lpm\.bridge\.v1 import bridge_pb2 as",
        "from . import bridge_pb2 as",
        out["bridge_pb2_grpc.py"],
        flags=re.M,
    )
    # Generated code is not held to `mypy --strict` (protobuf ships no stubs, so its bases are Any);
    # the .pyi still gives callers typed messages.
    out = {name: "# mypy: ignore-errors\n" + text for name, text in out.items()}
    out["__init__.py"] = INIT
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    fresh = generate()
    if args.check:
        stale = [
            n
            for n, text in fresh.items()
            if not (OUT / n).exists() or (OUT / n).read_text() != text
        ]
        for name in stale:
            print(f"stale: lpm_bridge/_proto/{name}", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in fresh.items():
        (OUT / name).write_text(text)
    print(f"wrote {', '.join(sorted(fresh))} to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
