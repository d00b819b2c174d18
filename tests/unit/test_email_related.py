"""related_block (R18) and the pure matching helpers of app/sync/emails.py."""
from __future__ import annotations

from app.domain.records import LinkTarget, Reference, RefKind
from app.sync.emails import RELATED_TITLE, SentRow, related_block, targets_for


def refs():
    return [
        Reference(RefKind.ORGANISATION, "1", "ORG-1", "Acme Ltd"),
        Reference(RefKind.OPPORTUNITY, "2", "OPP-2", "Big deal", status="Proposal", person_ids=("9",)),
        Reference(RefKind.OPPORTUNITY, "3", "OPP-3", "Old deal", status="Closed Won", person_ids=("9",)),
        Reference(RefKind.CASE, "4", "CASE-4", "Broken", status="Open", person_ids=("9", "8")),
        Reference(RefKind.CASE, "5", "CASE-5", "Fixed", status="Resolved", person_ids=("9",)),
        Reference(RefKind.SALES_LEAD, "6", "LEAD-6", "Lena", person_ids=("9",)),
        Reference(RefKind.CASE, "7", "CASE-7", "Deleted", person_ids=("9",), deleted=True),
        Reference(RefKind.CASE, "10", "CASE-10", "Other person", person_ids=("8",)),
    ]


def test_related_block_lists_org_open_opportunities_cases_and_leads():
    text = related_block("9", refs(), organisation_id="1", url_for=lambda r: f"https://wb.example/{r.object_ref}")
    assert text == "\n".join([
        RELATED_TITLE,
        "- Organisation: Acme Ltd (ORG-1) https://wb.example/ORG-1",
        "- Opportunity: Big deal (OPP-2) https://wb.example/OPP-2",
        "- Case: Broken (CASE-4) https://wb.example/CASE-4",
        "- Sales Lead: Lena (LEAD-6) https://wb.example/LEAD-6",
    ])


def test_related_block_none_when_nothing_relates():
    assert related_block("77", refs()) is None
    assert related_block("8", refs()) == "\n".join([RELATED_TITLE, "- Case: Broken (CASE-4)", "- Case: Other person (CASE-10)"])


def test_targets_for_dedups_and_brings_the_employer():
    row = SentRow(1, "<m>", "i", None, "About CASE-4 and case-4 and OPP-99", "pending_match")
    owners = {"a@x.example": [LinkTarget("person", "9")], "b@x.example": [LinkTarget("person", "9")]}
    links, matched = targets_for(row, ["a@x.example", "b@x.example", "c@x.example"], owners,
                                 {"CASE-4": LinkTarget("case", "4")}, {"9": "1"})
    assert [(ln.target.crm_type, ln.target.crm_id, ln.reason) for ln in links] == [
        ("person", "9", "address"), ("case", "4", "subject_ref"), ("organisation", "1", "employer")]
    assert matched == ["a@x.example", "b@x.example"]


def test_related_blocks_finds_the_organisation_by_company_name():
    from app.sync.email_phase_hook import related_blocks

    out = related_blocks(refs(), {"9": "ACME LTD", "77": None, "8": "Nobody"})
    assert out["9"].splitlines()[1] == "- Organisation: Acme Ltd (ORG-1)"
    assert out["77"] is None
    assert out["8"].splitlines()[1:] == ["- Case: Broken (CASE-4)", "- Case: Other person (CASE-10)"]


def test_subject_refs_any_case():
    from app.domain.matching import subject_refs

    assert subject_refs("Re: case-12, OPP-7 and Case-12 (PERS-9)/LEAD-3x") == ("CASE-12", "OPP-7", "PERS-9")
    assert subject_refs(None) == ()
