"""Beam search: answer the root, then each round `expansions` rewrites of each of the best `width` prompts."""

from __future__ import annotations

from .. import _defaults as D
from .base import SearchOptions
from .frontier import FrontierSearch


class Beam(FrontierSearch):
    name = "beam"

    def __init__(self, width: int = D.BEAM_WIDTH, expansions: int = D.BEAM_EXPANSIONS) -> None:
        self.width, self.expansions, self.pool = width, expansions, expansions

    @classmethod
    def from_options(cls, options: SearchOptions) -> "Beam":
        return cls(options.beam_width, options.beam_expansions)
