"""What every API package of this project shares: HTTP, retries, pacing, typed errors."""

from sources.core.httpx_cli import import_httpx_without_cli

# Before any module of the core imports httpx.
import_httpx_without_cli()
