"""`radstack` console script. Each sub-command lives in radstack/commands/<name>.py and exposes
`register(subparsers)`; this module only wires them together."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Order is the order `radstack --help` lists them in.
COMMAND_MODULES = (
    "up", "demo", "gateway", "worker", "migrate", "keys", "users", "studies", "audit", "eval", "models", "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radstack", description="Chest X-ray triage and draft-report pipeline.")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"radstack.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from shared.config import get_settings
    from shared.metrics_setup import configure_multiprocess

    # Before anything imports prometheus_client: every radstack process shares one metrics folder.
    configure_multiprocess(get_settings().data_dir)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
