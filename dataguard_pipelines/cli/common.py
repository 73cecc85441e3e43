"""What every command shares: the consoles, the error boundary, settings, store and keyring, progress, JSON."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from functools import wraps
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from dataguard_pipelines.core.errors import DataguardError
from dataguard_pipelines.core.progress import Progress as ProgressUpdate
from dataguard_pipelines.core.settings import Settings, debug_enabled

if TYPE_CHECKING:
    from dataguard_pipelines.core.keys import Keyring
    from dataguard_pipelines.core.store import Store

# Piped output keeps full-width tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def guarded(command: Callable) -> Callable:
    """One clear sentence and the contract's exit code instead of a traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                # library warnings (e.g. platformdirs' RuntimeDirWarning) are noise to an operator
                warnings.simplefilter("ignore")
                return command(*args, **kwargs)
        except DataguardError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: nothing was published by the interrupted step")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            err.print(
                f"[red]error:[/red] unexpected {exc.__class__.__name__}: {first} "
                "(set DATAGUARD_DEBUG=1 for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def settings() -> Settings:
    return Settings.from_env()


def open_store(config: Settings) -> Store:
    from dataguard_pipelines.core.store import Store

    return Store(config.store_url, s3_endpoint_url=config.s3_endpoint_url)


def open_keyring(config: Settings) -> Keyring:
    """The keyring; only the embedded default (the demo) may create a missing one."""
    from dataguard_pipelines.core.keys import open_keyring as open_configured

    return open_configured(config.keyring_path, may_create=config.may_create_keyring)


def split_names(text: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c']; None stays None."""
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[ProgressUpdate], None]]:
    """A rich progress bar on stderr (only on a terminal); yields the callback core functions take."""
    if not enabled or not err.is_terminal:
        yield lambda _update: None
        return
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=None, detail="")

        def update(p: ProgressUpdate) -> None:
            total = max(p.total_bytes, p.done_bytes) if p.total_bytes else None
            bar.update(task, description=p.phase, completed=p.done_bytes, total=total, detail=p.detail[:40])

        yield update


def spinner(text: str, enabled: bool = True):
    """A spinner on stderr while a run works (none with --json or --verbose)."""
    return err.status(text, spinner="dots") if enabled else contextlib.nullcontext()


def emit_json(document) -> None:
    """Exactly one JSON document on stdout."""
    typer.echo(json.dumps(document, indent=2, default=str))
