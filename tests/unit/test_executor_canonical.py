"""Executor._succeed normalises each snapshot object once (_Canonical): a dict that is canonical
already is kept as the same object, so the journal encodes it once; anything canonical() would
change is stored as canonical() makes it, exactly as before."""
from __future__ import annotations

from app.domain.normalise import canonical
from app.domain.records import Kind
from app.sync.executor import _Canonical

P = Kind.PERSON


def test_a_canonical_dict_is_kept_as_the_same_object_even_in_another_key_order():
    made = canonical(P, {"first_name": "Ann", "email1": "ann@x.test"})
    read_back = dict(sorted(made.items()))  # as a snapshot decoded from the journal's sorted JSON
    canon = _Canonical(P)
    assert canon(read_back) is read_back
    assert canon(read_back) is read_back  # the second use of the object (the new base) is free


def test_what_canonical_changes_is_stored_as_canonical_makes_it():
    canon = _Canonical(P)
    for given in ({"first_name": " Ann ", "email1": "ANN@X.TEST"},  # trimmed, lower-cased
                  {"first_name": "Ann"},  # missing content fields added as None
                  {**canonical(P, {"first_name": "Ann"}), "job_title": 1.0}):  # a float becomes text
        out = canon(given)
        assert out is not given and out == canonical(P, given)
        assert list(map(type, out.values())) == list(map(type, canonical(P, given).values()))

