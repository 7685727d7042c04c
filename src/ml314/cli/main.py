"""``ml314``: the command line. Errors of ours become one line on stderr and exit code 2."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Annotated

import click
import typer

from ml314 import __version__
from ml314.cli.broker_config import broker_config_command
from ml314.cli.cloud import cloud_command
from ml314.cli.cloud_provision import cloud_provision_command
from ml314.cli.commission import commission_command
from ml314.cli.decode import decode_command
from ml314.cli.diagnose import diagnose_command
from ml314.cli.label import label_command
from ml314.cli.lcd import lcd_command
from ml314.cli.maintenance import maintenance_app
from ml314.cli.monitor import monitor_command
from ml314.cli.protocols import protocols_app
from ml314.cli.run import run_command
from ml314.cli.simulate import simulate_command
from ml314.cli.sweep import sweep_command
from ml314.errors import Ml314Error

app = typer.Typer(
    name="ml314",
    help="The ML314-51.2-W08 LiFePO4 wall battery system as software.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ml314 {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: Annotated[
        bool, typer.Option("--version", help="print the version and exit", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """The ML314-51.2-W08 LiFePO4 wall battery system as software."""


app.command("run")(run_command)
app.command("simulate")(simulate_command)
app.command("sweep")(sweep_command)
app.command("decode")(decode_command)
app.command("label")(label_command)
app.command("lcd")(lcd_command)
app.command("broker-config")(broker_config_command)
app.command("cloud-provision")(cloud_provision_command)
app.command("monitor")(monitor_command)
app.command("cloud")(cloud_command)
app.command("diagnose")(diagnose_command)
app.command("commission")(commission_command)
app.add_typer(protocols_app, name="protocols")
app.add_typer(maintenance_app, name="maintenance")


@app.command("version")
def version_command() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``ml314`` script."""
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as its return value
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except Ml314Error as exc:
        typer.echo(f"ml314: error: {_one_line(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("ml314: interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("ml314: aborted", err=True)
        sys.exit(1)
    except (click.ClickException, typer.TyperException) as exc:
        # Typer >= 0.22 vendors click: its usage errors are TyperExceptions, not click.ClickExceptions.
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ml314`: the help, not an error line
            typer.echo(exc.format_message(), err=True)
        else:
            typer.echo(f"ml314: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        full = _disk_full(exc)
        if full is None:
            _internal_error(exc)
        typer.echo(f"ml314: error: {full}", err=True)
        sys.exit(2)
    except Exception as exc:
        _internal_error(exc)


#: errors of a full disk, a full quota, or a file-size limit: the user's to fix, not a bug of ours
_FULL = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
}


def _disk_full(exc: OSError) -> str | None:
    """One line for an output that could not be written because the disk is full; None for any other OSError."""
    text = str(exc)
    why = _FULL.get(exc.errno or 0)
    if why is None:  # pyarrow's IO errors carry the text, not the errno
        why = next((w for w in _FULL.values() if w.replace("on the", "on").lower() in text.lower()), None)
    if why is None:
        return None
    where = f" writing {exc.filename}" if exc.filename else ""
    return f"{why}{where}: free some space (or write elsewhere with --out) and run again"


def _internal_error(exc: BaseException) -> None:
    """A bug of ours: one line for the user, the traceback only when ML314_DEBUG is set."""
    if os.environ.get("ML314_DEBUG"):
        traceback.print_exception(exc)
    typer.echo(
        f"ml314: internal error: {type(exc).__name__}: {_one_line(str(exc))} (set ML314_DEBUG=1 for the traceback)",
        err=True,
    )
    sys.exit(70)


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    main()
