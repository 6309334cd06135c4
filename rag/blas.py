"""One BLAS thread for the whole process.

numpy's OpenBLAS splits every matrix product over all cores. kb-rag's products are small (a
ticket's 75 token states against 500 evidence tokens, one query vector against the KB's vectors)
and the cores already belong to the model runs: on a busy 2-core machine a 75x384 by 384x500
product took 40 ms split over both cores and 0.6 ms on one.
"""

from __future__ import annotations

import functools
import logging

import numpy  # noqa: F401  (loads OpenBLAS, so threadpoolctl can find it)

log = logging.getLogger(__name__)


@functools.cache
def one_blas_thread() -> None:
    """Called where a knowledge base is built (rag.factory.build_kb); once a process."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except Exception as exc:  # a BLAS threadpoolctl does not know: slower under load, still right
        log.debug("could not limit BLAS threads: %s", exc)
