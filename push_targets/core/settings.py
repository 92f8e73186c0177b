"""What every push target's settings share, declared once: its API (``ApiSettings``: base URL,
token, timeouts, retries, rate-limit reserve), the mapping of rows to its fields, and how its
dlt destination pushes. Each target's spec adds its own settings; all are
``[destination.<target>]`` / ``DESTINATION__<TARGET>__<NAME>``, the names every error uses."""

from collections.abc import Sequence
from typing import ClassVar

from dlt.common.configuration.specs import configspec
from dlt.destinations.impl.destination.configuration import CustomDestinationClientConfiguration

from sources.core.settings import ApiSettings

from .rows import parse_mapping

MAX_CONCURRENCY = 64


@configspec
class PushSettings(ApiSettings, CustomDestinationClientConfiguration):
    __kind__: ClassVar[str] = "destination"
    __target_fields__: ClassVar[Sequence[str]] = ()  # the fields a row may be mapped to

    field_map: str | None = None  # target_field=column,…; default: columns named like fields
    key_column: str = "id"  # the column that identifies a row
    concurrency: int = 8  # requests in flight, one rate-limit budget
    ledger_path: str = "push_ledger.duckdb"  # the ledger of a dlt pipeline's pushes

    def on_resolved(self) -> None:
        self.concurrency = self.checks.whole_number(
            self.concurrency, "concurrency", 1, MAX_CONCURRENCY
        )
        self.mapping  # noqa: B018  # a bad mapping fails here, before anything is read

    @property
    def ledger_account(self) -> str:
        """Whose rows in the ledger (and in the Idempotency-Keys): the target's tenant."""
        raise NotImplementedError

    @property
    def mapping(self) -> dict[str, str]:
        return parse_mapping(self.field_map, self.__target_fields__)
