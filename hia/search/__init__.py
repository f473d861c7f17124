"""Search methods, one per module, all behind one interface and all under the same Budget."""

from __future__ import annotations

from hia.search.base import Search, SearchContext
from hia.search.beam import Beam
from hia.search.best_of_n import BestOfN
from hia.search.greedy import Greedy
from hia.search.hia import HIABeam, HIAGreedy
from hia.search.options import METHODS, SearchOptions, check_method

REGISTRY: dict[str, type[Search]] = {cls.name: cls for cls in (BestOfN, Greedy, Beam, HIAGreedy, HIABeam)}
ALIASES = {"hia": "hia_greedy"}  # "hia" is HIA's default: HIA around greedy search


def make_search(method: str, options: SearchOptions = SearchOptions()) -> Search:
    """The search called `method` (or an alias of one), sized by `options`."""
    name = check_method(method)
    return REGISTRY[ALIASES.get(name, name)](options)


__all__ = ["METHODS", "REGISTRY", "ALIASES", "Search", "SearchContext", "SearchOptions", "BestOfN", "Greedy", "Beam",
           "HIAGreedy", "HIABeam", "make_search"]
