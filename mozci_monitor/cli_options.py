"""Options every `mozci-monitor` command takes, before or after the command's name."""

from __future__ import annotations

import argparse

from mozci_monitor import __version__
from mozci_monitor.config import CONFIG_ENV, CONFIG_FILE_NAME, Settings

LOG_LEVELS = ("debug", "info", "warning", "error")

# The daemon logs at its configured level; the other commands print their result on stdout
# and only warnings on stderr unless asked (INFO lines used to bury the campaign id).
_LOGGING_COMMANDS = frozenset({"run"})


def add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """`--config`, `-q` and `--log-level` on the program and on each command.

    On a command the defaults are suppressed: otherwise the command's parser would write
    its default over a value given before the command's name.
    """
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        default=default,
        metavar="FILE",
        help=(
            f"TOML settings file (default: ${CONFIG_ENV}, ./{CONFIG_FILE_NAME},"
            f" ~/.config/mozci-monitor/config.toml, /etc/mozci-monitor/{CONFIG_FILE_NAME})"
        ),
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="log only errors",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default,
        help="log level (default: log.level for `run`, warning for the other commands)",
    )
    if top_level:
        parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def log_level(args: argparse.Namespace, settings: Settings) -> str:
    """The level asked for on the command line, else the command's default."""
    if getattr(args, "quiet", False):
        return "error"
    chosen: str | None = getattr(args, "log_level", None)
    if chosen:
        return chosen
    if getattr(args, "command", None) in _LOGGING_COMMANDS:
        return settings.log.level
    return "warning"
