"""Any registered source's command: ``python -m pipelines <source> [options]``; ``mega-leads``
and ``leads-v1`` are the same commands under their own names. A source registered in
``pipelines/registry.py`` is runnable here without a console script of its own."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import NoReturn

from pipelines.gc_tuning import collections_off

# The imports' objects live as long as the process: collecting meanwhile frees nothing.
with collections_off():
    from sources.core.dlt_config import configure_dlt

    configure_dlt()

    # dlt_config must be registered before dlt resolves anything.
    from pipelines.entrypoint import end_process, run_source, source_main
    from pipelines.registry import SOURCES


def main(argv: Sequence[str] | None = None) -> NoReturn:
    given = list(sys.argv[1:] if argv is None else argv)
    if not given or given[0] not in SOURCES:
        named = repr(given[0]) if given else "none"
        print(
            f"python -m pipelines: the first argument names the source ({', '.join(SOURCES)}), "
            f"got {named}",
            file=sys.stderr,
        )
        end_process(2)
    source = SOURCES[given[0]]
    source_main(source, functools.partial(run_source, source), given[1:])


if __name__ == "__main__":
    main()
