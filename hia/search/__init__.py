"""Search methods, one per module, all behind one interface and all under the same Budget."""

from __future__ import annotations

from typing import Callable

from .. import _defaults as D
from ..errors import InputError
from .base import Search, SearchContext
from .beam import Beam
from .best_of_n import BestOfN
from .greedy import Greedy
from .hia import HIABeam, HIAGreedy

# name -> how to build it from the aligner's search options. "hia" is HIA around greedy search.
REGISTRY: dict[str, Callable[..., Search]] = {
    "hia": lambda **o: HIAGreedy(o["hia_candidates"]),
    "hia_greedy": lambda **o: HIAGreedy(o["hia_candidates"]),
    "hia_beam": lambda **o: HIABeam(o["hia_candidates"], o["beam_width"], o["beam_expansions"]),
    "best_of_n": lambda **o: BestOfN(),
    "greedy": lambda **o: Greedy(),
    "beam": lambda **o: Beam(o["beam_width"], o["beam_expansions"]),
}
METHODS = tuple(REGISTRY)


def make_search(method: str, *, hia_candidates: int = D.HIA_CANDIDATES_PER_ROUND, beam_width: int = D.BEAM_WIDTH,
                beam_expansions: int = D.BEAM_EXPANSIONS) -> Search:
    """The search called `method`."""
    try:
        build = REGISTRY[method]
    except (KeyError, TypeError):
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}") from None
    return build(hia_candidates=hia_candidates, beam_width=beam_width, beam_expansions=beam_expansions)


__all__ = ["METHODS", "REGISTRY", "Search", "SearchContext", "BestOfN", "Greedy", "Beam", "HIAGreedy", "HIABeam",
           "make_search"]
