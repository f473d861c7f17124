"""A result's records: the hand-written to_dict of a candidate holds exactly what asdict would."""

from dataclasses import asdict, fields

from hia.core.results import Candidate, Evaluation


def test_a_candidates_record_is_its_asdict_and_holds_every_field():
    answered = Candidate(3, "Explain tides, briefly.", 1, "template", parent_id=0, status="evaluated", reason=None,
                         similarity=0.8, heuristic_scores={"verbosity": 1.2}, heuristic_reward=-0.3,
                         evaluation=Evaluation("Tides follow the moon.", {"verbosity": 1.0}, {"euclidean": -0.1}, 7,
                                               12, 5, "stop"))
    for candidate in (answered, Candidate(4, "Why?", 0, "seed")):
        record = candidate.to_dict()
        assert record == asdict(candidate)
        assert set(record) == {f.name for f in fields(Candidate)}
    assert set(answered.to_dict()["evaluation"]) == {f.name for f in fields(Evaluation)}
    record = answered.to_dict()
    record["heuristic_scores"]["verbosity"] = 9  # a copy: the record never aliases the candidate
    assert answered.heuristic_scores == {"verbosity": 1.2}
