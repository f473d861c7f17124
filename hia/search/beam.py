"""Beam search: answer the root, then each round `expansions` rewrites of each of the best `width` prompts."""

from __future__ import annotations

from hia.search.frontier import FrontierSearch
from hia.search.options import SearchOptions


class Beam(FrontierSearch):
    name = "beam"

    def __init__(self, options: SearchOptions = SearchOptions()) -> None:
        super().__init__(options)
        self.width, self.expansions, self.pool = options.beam_width, options.beam_expansions, options.beam_expansions
