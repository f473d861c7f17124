"""Greedy search: answer the root, then each round one rewrite of the best prompt so far."""

from __future__ import annotations

from hia.search.frontier import FrontierSearch


class Greedy(FrontierSearch):
    name = "greedy"
    width = expansions = pool = 1
