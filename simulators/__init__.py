"""Local simulators of the lead APIs the connector talks to: one package per API
(``simulators.mega``, …) built on the shared server core in ``simulators.core``."""
