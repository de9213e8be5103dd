"""CLI commands of the bridge family; see lpm_bridge/cli/__init__.py."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    """Add this family's subcommands to the lpm-bridge parser."""
