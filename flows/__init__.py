"""CLI, Prefect flows and tasks: the wiring. The only package that imports Prefect.

Prefect's environment (project-local PREFECT_HOME, embedded server settings) is set here, so it is
in place before any module of this package imports Prefect.
"""

from flows.env import configure_prefect

configure_prefect()
