from app.domain.records import Kind, OutlookItem, Sharing
from app.sync.sharing import IF_MATCH, NO, YES, blocks_recreate, needs_marker, share_decision
from app.sync.state import Link, SharingRec

P = Kind.PERSON


def item(marker=None, categorised=False, crm_id=None, link_id=None):
    return OutlookItem(P, "e1", "ck", {}, marker=marker, categorised=categorised, crm_id=crm_id, link_id=link_id)


def decide(it, first=False, existing="matching", new=False, rec=None):
    return share_decision(it, first_sync=first, share_existing=existing, share_new=new, rec=rec)


def test_native_items_stay_native_by_default():
    assert decide(item()) == NO


def test_category_added_shares():
    assert decide(item(categorised=True)) == YES
    assert decide(item(Sharing.UNSHARED, categorised=True)) == YES


def test_unshared_stays_unshared():
    assert decide(item(Sharing.UNSHARED)) == NO
    assert decide(item(Sharing.SHARED, categorised=False)) == NO  # category removed


def test_install_choices_for_existing_contacts():
    assert decide(item(), first=True, existing="all") == YES
    assert decide(item(), first=True, existing="matching") == IF_MATCH
    assert decide(item(), first=True, existing="none") == NO


def test_share_new_option():
    assert decide(item(), new=True) == YES


def test_share_command():
    assert decide(item(Sharing.UNSHARED), rec=SharingRec(P, "share_requested", "user", ews_item_id="e1")) == YES


def test_recreate_block():
    assert blocks_recreate(SharingRec(P, "unshared", "outlook_delete", crm_id="1", recreate_blocked=True))
    assert blocks_recreate(SharingRec(P, "unshared", "user", crm_id="1"))
    assert not blocks_recreate(SharingRec(P, "unshared", "filter", crm_id="1"))
    assert not blocks_recreate(None)


def test_needs_marker():
    link = Link("l1", P, crm_id="5")
    assert needs_marker(item(), link)
    assert not needs_marker(item(Sharing.SHARED, True, "5", "l1"), link)
    assert needs_marker(item(Sharing.SHARED, True, "6", "l1"), link)
