"""exchangelib against the EWS sandbox: folders, contacts CRUD, paging, request counts."""
from __future__ import annotations

import pytest
from exchangelib import Contact, Folder
from exchangelib.errors import ErrorFolderExists, ErrorItemNotFound
from exchangelib.folders import Contacts, Tasks, Calendar, SentItems, DeletedItems
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import HARD_DELETE
from exchangelib.properties import Body

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403


def test_distinguished_folders_are_typed(account, ews):
    server, sandbox = ews
    assert isinstance(account.contacts, Contacts) and account.contacts.folder_class == "IPF.Contact"
    assert isinstance(account.tasks, Tasks) and isinstance(account.calendar, Calendar)
    assert isinstance(account.sent, SentItems) and isinstance(account.trash, DeletedItems)
    assert account.contacts.total_count == len(sandbox.items("contacts"))
    assert account.root.name
    assert "ConvertId" not in server.stats.snapshot()["requests"]["by_operation"]


def test_walk_and_create_folder(account):
    names = {f.name for f in account.root.walk()}
    assert {"Contacts", "Tasks", "Calendar", "Sent Items", "Inbox", "Deleted Items"} <= names
    f = Folder(parent=account.root, name="Workbooks connector", folder_class="IPF.Note")
    f.save()
    assert f.id
    assert "Workbooks connector" in [c.name for c in account.root.children]
    with pytest.raises(ErrorFolderExists):
        Folder(parent=account.root, name="Workbooks connector", folder_class="IPF.Note").save()
    assert list(account.root.glob("Workbooks connector"))[0].id == f.id


def test_contact_round_trip_all_fields(account, ews):
    _server, sandbox = ews
    c = Contact(
        folder=account.contacts, given_name="Ada", middle_name="K", surname="Lovelace", generation="Jr",
        display_name="Ada Lovelace", company_name="Analytical Ltd", job_title="Engineer", department="R&D",
        email_addresses=[EmailAddress(email="ada@analytical.example", label="EmailAddress1"),
                         EmailAddress(email="ada@home.example", label="EmailAddress2"),
                         EmailAddress(email="a3@x.example", label="EmailAddress3")],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+44 1"),
                       PhoneNumber(label="MobilePhone", phone_number="+44 2")],
        physical_addresses=[PhysicalAddress(label="Business", street="1 High St", city="Reading",
                                            state="Berks", country="UK", zipcode="RG1 1AA"),
                            PhysicalAddress(label="Home", city="Leeds"),
                            PhysicalAddress(label="Other", street="PO Box 9")],
        business_homepage="https://analytical.example", spouse_name="William",
        body=Body("Notes about Ada"), categories=["Workbooks", "VIP"],
    )
    c.save()
    got = account.contacts.get(id=c.id)
    assert (got.given_name, got.middle_name, got.surname, got.generation) == ("Ada", "K", "Lovelace", "Jr")
    assert (got.display_name, got.company_name, got.job_title, got.department) == (
        "Ada Lovelace", "Analytical Ltd", "Engineer", "R&D")
    assert {e.label: e.email for e in got.email_addresses} == {
        "EmailAddress1": "ada@analytical.example", "EmailAddress2": "ada@home.example", "EmailAddress3": "a3@x.example"}
    assert {p.label: p.phone_number for p in got.phone_numbers} == {"BusinessPhone": "+44 1", "MobilePhone": "+44 2"}
    addr = {a.label: a for a in got.physical_addresses}
    assert (addr["Business"].street, addr["Business"].city, addr["Business"].zipcode) == ("1 High St", "Reading", "RG1 1AA")
    assert addr["Home"].city == "Leeds" and addr["Other"].street == "PO Box 9"
    assert got.business_homepage == "https://analytical.example" and got.spouse_name == "William"
    assert got.body == "Notes about Ada" and sorted(got.categories) == ["VIP", "Workbooks"]
    assert got.item_class == "IPM.Contact" and got.last_modified_time and got.datetime_created
    stored = sandbox.describe(c.id)
    assert stored["props"]["GivenName"] == "Ada" and stored["change_key"] == got.changekey


def test_update_indexed_and_subfields(account):
    c = Contact(folder=account.contacts, given_name="Bo", surname="Yang", display_name="Bo Yang",
                email_addresses=[EmailAddress(email="bo@1.example", label="EmailAddress1"),
                                 EmailAddress(email="bo@2.example", label="EmailAddress2")],
                physical_addresses=[PhysicalAddress(label="Business", street="Old", city="York")])
    c.save()
    ck = c.changekey
    c.email_addresses = [EmailAddress(email="bo@new.example", label="EmailAddress1")]
    c.physical_addresses = [PhysicalAddress(label="Business", street="New Street", city="York")]
    c.job_title = "CTO"
    c.save(update_fields=["email_addresses", "physical_addresses", "job_title"])
    assert c.changekey != ck
    got = account.contacts.get(id=c.id)
    assert [(e.label, e.email) for e in got.email_addresses] == [("EmailAddress1", "bo@new.example")]
    assert got.physical_addresses[0].street == "New Street" and got.job_title == "CTO"
    c.job_title = None
    c.save(update_fields=["job_title"])
    assert account.contacts.get(id=c.id).job_title is None


def test_hard_delete_and_item_not_found(account):
    c = Contact(folder=account.contacts, given_name="Del", display_name="Del Me")
    c.save()
    item_id = c.id
    c.delete()
    res = list(account.fetch(ids=[(item_id, None)]))
    assert isinstance(res[0], ErrorItemNotFound)
    res = account.bulk_delete([(item_id, None)], delete_type=HARD_DELETE)
    assert isinstance(res[0], ErrorItemNotFound)


def test_page_contacts_over_several_requests(empty_account, empty_ews):
    """Paging, not volume: 250 contacts are three full-or-partial pages of 100 each way (the 2,000
    of the first version cost 18 s of CI and proved nothing more)."""
    server, sandbox = empty_ews
    n = 250
    contacts = [Contact(given_name=f"G{i:04d}", surname="Bulk", display_name=f"G{i:04d} Bulk",
                        email_addresses=[EmailAddress(email=f"g{i}@bulk.example", label="EmailAddress1")])
                for i in range(n)]
    folder = empty_account.contacts
    server.stats.reset()
    res = empty_account.bulk_create(folder=folder, items=contacts)
    assert len(res) == n and all(r.id for r in res)
    assert server.stats.snapshot()["requests"]["by_operation"] == {"CreateItem": 3}
    server.stats.reset()
    got = list(folder.all().only("given_name", "email_addresses"))
    assert len(got) == n
    assert len({g.given_name for g in got}) == n
    ops = server.stats.snapshot()["requests"]["by_operation"]
    assert ops["FindItem"] == 3 and ops["GetItem"] == 3
    assert empty_account.contacts.all().count() == n
    assert len(list(empty_account.contacts.all().only("given_name")[240:260])) == 10


def test_filter_sort_and_ordering(account):
    for i, name in enumerate(["Zed", "Amy", "Kim"]):
        Contact(folder=account.contacts, given_name=name, surname="Sorter", display_name=f"{name} Sorter").save()
    names = [c.given_name for c in account.contacts.filter(surname="Sorter").order_by("given_name")]
    assert names == ["Amy", "Kim", "Zed"]
    names = [c.given_name for c in account.contacts.filter(surname="Sorter").order_by("-given_name")]
    assert names == ["Zed", "Kim", "Amy"]
    assert account.contacts.filter(given_name__startswith="Am").count() == 1
    assert account.contacts.filter(given_name__istartswith="am").count() == 1
    assert account.contacts.filter(given_name__icontains="E").count() >= 1
    assert account.contacts.filter(surname="Sorter").exclude(given_name="Kim").count() == 2
    assert account.contacts.filter(given_name__in=["Amy", "Zed"]).count() == 2
