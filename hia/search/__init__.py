"""Search methods, one per module, all behind one interface and all under the same Budget."""

from __future__ import annotations

from ..errors import InputError
from .base import Search, SearchContext, SearchOptions
from .beam import Beam
from .best_of_n import BestOfN
from .greedy import Greedy
from .hia import HIABeam, HIAGreedy

REGISTRY: dict[str, type[Search]] = {cls.name: cls for cls in (BestOfN, Greedy, Beam, HIAGreedy, HIABeam)}
ALIASES = {"hia": "hia_greedy"}  # "hia" is HIA's default: HIA around greedy search
METHODS = (*ALIASES, *REGISTRY)


def make_search(method: str, options: SearchOptions = SearchOptions()) -> Search:
    """The search called `method` (or an alias of one), sized by `options`."""
    name = ALIASES.get(method, method) if isinstance(method, str) else method
    if name not in REGISTRY:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return REGISTRY[name].from_options(options)


__all__ = ["METHODS", "REGISTRY", "ALIASES", "Search", "SearchContext", "SearchOptions", "BestOfN", "Greedy", "Beam",
           "HIAGreedy", "HIABeam", "make_search"]
