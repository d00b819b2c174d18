from app.domain.records import Kind
from app.sync.merge import differing_fields, three_way

P = Kind.PERSON
BASE = {"first_name": "Ann", "job_title": "Buyer", "email1": "a@x.test", "email2": None}


def test_one_side_changed_takes_that_value():
    m = three_way(P, BASE, {**BASE, "job_title": "CTO"}, BASE)
    assert m.clean and m.merged["job_title"] == "CTO" and m.crm_changes == {"job_title"} and not m.outlook_changes


def test_disjoint_changes_merge_both_ways():
    m = three_way(P, BASE, {**BASE, "job_title": "CTO"}, {**BASE, "email2": "b@x.test"})
    assert m.clean and m.outlook_changes == {"email2"} and m.crm_changes == {"job_title"}


def test_same_field_changed_differently_conflicts():
    m = three_way(P, BASE, {**BASE, "job_title": "CTO"}, {**BASE, "job_title": "CEO"})
    assert m.conflicts == ("job_title",)


def test_same_change_on_both_sides_is_not_a_conflict():
    m = three_way(P, BASE, {**BASE, "job_title": "CTO"}, {**BASE, "job_title": " CTO "})
    assert m.clean and not m.outlook_changes and not m.crm_changes


def test_email_slots_merge_independently():
    m = three_way(P, BASE, {**BASE, "email1": "new@x.test"}, {**BASE, "email2": "two@x.test"})
    assert m.clean and m.merged["email1"] == "new@x.test" and m.merged["email2"] == "two@x.test"


def test_email_case_is_not_a_change():
    m = three_way(P, BASE, {**BASE, "email1": "A@X.TEST"}, BASE)
    assert m.clean and not m.crm_changes


def test_without_base_one_sided_values_fill():
    m = three_way(P, None, {"first_name": "Ann", "mobile_phone": "1"}, {"first_name": "Ann", "job_title": "B"})
    assert m.clean and m.merged["mobile_phone"] == "1" and m.merged["job_title"] == "B"


def test_without_base_different_values_conflict():
    assert three_way(P, None, {"job_title": "A"}, {"job_title": "B"}).conflicts == ("job_title",)


def test_prefer_settles_conflicts():
    m = three_way(P, BASE, {**BASE, "job_title": "CTO"}, {**BASE, "job_title": "CEO"}, prefer="crm")
    assert m.clean and m.merged["job_title"] == "CEO"


def test_deleting_a_value_is_a_change():
    m = three_way(P, BASE, {**BASE, "job_title": None}, BASE)
    assert m.crm_changes == {"job_title"} and m.merged["job_title"] is None


def test_differing_fields():
    assert differing_fields(P, {"job_title": "a"}, {"job_title": "b", "first_name": None}) == ("job_title",)


# --- three_way against its plain definition (each field compared with same_value) ----------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from app.domain.fields import META_FIELDS, content_fields  # noqa: E402
from app.domain.normalise import canonical, same_value  # noqa: E402


def _plain_three_way(kind, base, outlook, crm, outlook_owned, prefer):
    o, c = canonical(kind, outlook), canonical(kind, crm)
    b = canonical(kind, base) if base is not None else None
    merged, conflicts = {}, []
    for f in content_fields(kind):
        ov, cv = o.get(f), c.get(f)
        if same_value(f, ov, cv) or f in outlook_owned:
            merged[f] = ov
        elif b is not None and same_value(f, ov, b.get(f)):
            merged[f] = cv
        elif b is not None and same_value(f, cv, b.get(f)):
            merged[f] = ov
        elif b is None and ov is None:
            merged[f] = cv
        elif b is None and cv is None:
            merged[f] = ov
        elif prefer in ("outlook", "crm"):
            merged[f] = ov if prefer == "outlook" else cv
        else:
            conflicts.append(f)
            merged[f] = b.get(f) if b is not None else cv
    for k, v in o.items():
        merged.setdefault(k, v)
    for k, v in c.items():
        merged.setdefault(k, v)
    fields = [f for f in content_fields(kind) if f not in conflicts]
    return (merged, tuple(conflicts), frozenset(f for f in fields if not same_value(f, o.get(f), merged[f])),
            frozenset(f for f in fields if not same_value(f, c.get(f), merged[f])))


_VALUES = st.sampled_from([None, "", "a", " a ", "A", "b", "a  b", "+1 2", "12", "<p>a</p>", "2026-03-01",
                           "2026-03-01T10:00Z", "2026-03-01T11:00+01:00", True, False, 0, 1, 15])


def _record(kind):
    names = content_fields(kind) + META_FIELDS[kind]
    return st.dictionaries(st.sampled_from(names), _VALUES, max_size=len(names))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Kind)).flatmap(lambda k: st.tuples(
    st.just(k), st.none() | _record(k), _record(k), _record(k),
    st.frozensets(st.sampled_from(content_fields(k))), st.sampled_from([None, "outlook", "crm"]))))
def test_three_way_is_its_plain_definition(case):
    kind, base, outlook, crm, owned, prefer = case
    m = three_way(kind, base, outlook, crm, outlook_owned=owned, prefer=prefer)
    merged, conflicts, out_changes, crm_changes = _plain_three_way(kind, base, outlook, crm, owned, prefer)
    assert (m.merged, m.conflicts, m.outlook_changes, m.crm_changes) == (merged, conflicts, out_changes, crm_changes)
    assert list(m.merged) == list(merged)
