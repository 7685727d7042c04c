"""Chapter 12's findings over HTTP: ``GET /api/diagnostics`` (the page ``/diagnostics`` draws it).

The document is :func:`ml314.runtime.diagnosis.report_of`'s: ``problem`` (any finding), ``count``, ``findings``
(each with its module, evidence, the manual's analysis and solution and the guided steps) and the rules checked.
The findings are the run loop's newest (computed every few seconds off the request path), so a request never waits
for a diagnosis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

__all__ = ["diagnostics_router"]


def diagnostics_router(report: Callable[[], dict[str, Any]]) -> APIRouter:
    """``GET /api/diagnostics`` answering ``report()``."""
    router = APIRouter(prefix="/api", tags=["diagnostics"])

    @router.get("/diagnostics", summary="Chapter 12 findings: what is wrong, the evidence and what to do")
    async def diagnostics() -> dict[str, Any]:
        return report()

    return router
