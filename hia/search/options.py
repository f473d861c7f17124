"""How alignments are searched: one frozen options object, passed whole from the settings (or the
command line) to the aligner and on to the search. Each default is declared here, once."""

from __future__ import annotations

from dataclasses import dataclass, fields

from hia import _defaults as D
from hia.core.budget import whole_calls
from hia.core.objectives import OBJECTIVES
from hia.errors import InputError

# The search methods (hia.search.REGISTRY holds their classes); "hia" is HIA around greedy search.
METHODS = ("hia", "best_of_n", "greedy", "beam", "hia_greedy", "hia_beam")


def check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def check_objective(objective: object) -> str:
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return objective


@dataclass(frozen=True)
class SearchOptions:
    """method: the search (METHODS). objective: how answers are compared to the goal.
    budget: policy calls per alignment when a call does not say; max_budget: the ceiling on any
    one alignment, wherever its budget comes from. seed: call i of an alignment uses seed + i.
    online_learning: the heuristic learns from every answer paid for. hia_candidates: rewrites
    HIA asks for per frontier prompt per round; beam_width, beam_expansions: the beam's frontier
    and the rewrites evaluated per frontier prompt per round (plain beam). resample: HIA may pay
    for another draw of the best prompt so far when that is predicted to beat every rewrite."""

    method: str = D.DEFAULT_METHOD
    objective: str = D.DEFAULT_OBJECTIVE
    budget: int = D.DEFAULT_BUDGET
    max_budget: int = D.MAX_BUDGET
    seed: int = D.POLICY_BASE_SEED
    online_learning: bool = True
    hia_candidates: int = D.HIA_CANDIDATES_PER_ROUND
    beam_width: int = D.BEAM_WIDTH
    beam_expansions: int = D.BEAM_EXPANSIONS
    resample: bool = True

    def __post_init__(self) -> None:
        check_method(self.method)
        check_objective(self.objective)
        whole_calls(self.max_budget, ceiling=None, what="max_budget")
        whole_calls(self.budget, ceiling=None, what="budget")  # each alignment checks it against max_budget
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed must be a whole number, got {self.seed!r}")
        for name in ("online_learning", "resample"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("hia_candidates", "beam_width", "beam_expansions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1, got {value!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
