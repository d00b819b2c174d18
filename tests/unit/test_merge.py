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
