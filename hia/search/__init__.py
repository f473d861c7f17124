"""Search methods, all behind one interface and all under the same Budget."""

from __future__ import annotations

from .. import _defaults as D
from ..errors import InputError
from .base import Search, SearchContext
from .best_of_n import BestOfN
from .frontier import FrontierSearch

METHODS = ("hia", "hia_greedy", "hia_beam", "best_of_n", "greedy", "beam")


def make_search(method: str, *, hia_candidates: int = D.HIA_CANDIDATES_PER_ROUND, beam_width: int = D.BEAM_WIDTH,
                beam_expansions: int = D.BEAM_EXPANSIONS) -> Search:
    """The search called `method`. `hia` is HIA wrapped around greedy search."""
    if method == "best_of_n":
        return BestOfN()
    if method == "greedy":
        return FrontierSearch("greedy", width=1, expansions=1, pool=1, filtered=False)
    if method == "beam":
        return FrontierSearch("beam", width=beam_width, expansions=beam_expansions, pool=beam_expansions, filtered=False)
    if method in ("hia", "hia_greedy"):
        return FrontierSearch(method, width=1, expansions=1, pool=hia_candidates, filtered=True)
    if method == "hia_beam":
        return FrontierSearch("hia_beam", width=beam_width, expansions=beam_expansions, pool=hia_candidates, filtered=True)
    raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


__all__ = ["METHODS", "Search", "SearchContext", "BestOfN", "FrontierSearch", "make_search"]
