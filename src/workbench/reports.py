"""Each stage's HTML report, re-exported from :mod:`workbench.notebook_html`.

:func:`notebook_to_html`, :func:`write_assets`, :func:`standalone_copy` and
:func:`external_references` live in :mod:`workbench.notebook_html`; the run's index page
is written by :mod:`workbench.pipeline.index`.
"""

from __future__ import annotations

from workbench.notebook_html import (
    PLOTLY_ASSET,
    PLOTLY_MIME,
    external_references,
    notebook_to_html,
    standalone_copy,
    write_assets,
)

__all__ = [
    "notebook_to_html",
    "external_references",
    "standalone_copy",
    "write_assets",
    "PLOTLY_ASSET",
    "PLOTLY_MIME",
]
