"""The EWS sandbox's faster answers are the same answers: item rendering (GetItem, SyncFolderItems,
FindItem) and net changes are compared with the straightforward algorithms they replaced (kept
here as the oracles) over random items, shapes and change logs. No HTTP."""
from __future__ import annotations

import copy
import random

import pytest
from lxml import etree

from app.sandbox.ews import schema
from app.sandbox.ews.properties import fmt, parse_path, store_ext
from app.sandbox.ews.render import Shape, element_value, render_item
from app.sandbox.ews.seeding import add_item
from app.sandbox.ews.soap import local, sub, t
from tests.fixtures.ews_sandbox_store import empty_mailbox, random_contact_edits

T = "http://schemas.microsoft.com/exchange/services/2006/types"
PHONES = ["BusinessPhone", "MobilePhone", "HomePhone", "Pager"]
EMAILS = ["EmailAddress1", "EmailAddress2", "EmailAddress3"]
PARTS = ["Street", "City", "State", "CountryOrRegion", "PostalCode"]
EXT = {"PropertySetId": "8f3c2a61-5d1e-4b7a-9c0e-3f6b2d1a7e54", "PropertyName": "WorkbooksLinkId",
       "PropertyType": "String"}


def _entries(tag: str, keys, rng, parts=False):
    el = etree.Element(t(tag))
    for key in keys:
        entry = etree.SubElement(el, t("Entry"), Key=key)
        if parts:
            for part in rng.sample(PARTS, rng.randrange(0, 4)):  # an address may lack any part
                etree.SubElement(entry, t(part)).text = f"{part}-{rng.randrange(99)}"
        else:
            entry.text = f"{key}-{rng.randrange(99)}"
    return el


def _random_contact(mb, rng):
    item = add_item(mb, "contacts", "Contact", {"GivenName": f"Ann{rng.randrange(99)}", "Surname": "Lee",
                                                "JobTitle": rng.choice([None, "Buyer"])})
    if rng.random() < 0.8:
        keys = rng.sample(PHONES, rng.randrange(1, 4))
        item.props["PhoneNumbers"] = _entries("PhoneNumbers", keys + rng.sample(keys, 1), rng)  # a Key twice
    if rng.random() < 0.8:
        item.props["EmailAddresses"] = _entries("EmailAddresses", rng.sample(EMAILS, rng.randrange(1, 3)), rng)
    if rng.random() < 0.8:
        item.props["PhysicalAddresses"] = _entries("PhysicalAddresses", rng.sample(["Business", "Home"], rng.randrange(1, 3)),
                                                   rng, parts=True)
    return item


def _shape(rng) -> Shape:
    paths = [f'<t:FieldURI FieldURI="{u}"/>' for u in rng.sample(
        ["item:Subject", "contacts:GivenName", "contacts:Surname", "contacts:JobTitle", "item:LastModifiedTime",
         "item:Body", "contacts:CompanyName", "task:Status"], rng.randrange(0, 5))]
    for _ in range(rng.randrange(0, 12)):
        kind = rng.random()
        if kind < 0.35:
            paths.append(f'<t:IndexedFieldURI FieldURI="contacts:PhoneNumber" FieldIndex="{rng.choice(PHONES)}"/>')
        elif kind < 0.55:
            paths.append(f'<t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="{rng.choice(EMAILS)}"/>')
        else:
            part, label = rng.choice(PARTS), rng.choice(["Business", "Home", "Other"])
            paths.append(f'<t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:{part}" FieldIndex="{label}"/>')
    if rng.random() < 0.5:
        paths.append('<t:ExtendedFieldURI ' + " ".join(f'{k}="{v}"' for k, v in EXT.items()) + "/>")
    rng.shuffle(paths)
    parsed = []
    for text in paths:
        p = parse_path(etree.fromstring(text.replace("/>", f' xmlns:t="{T}"/>')))
        if p not in parsed:
            parsed.append(p)
    return Shape(rng.choice(["IdOnly", "IdOnly", "Default", "AllProperties"]), parsed)


# --- the oracles: the rendering and net-change algorithms before they were made faster ------------
def _reference_render(mb, item, parent, shape, find=False):
    from app.sandbox.ews.properties import base_uri
    from app.sandbox.ews.render import COMPUTED_FOR, FIND_OMITS, _convert_body, render_ext

    out = sub(parent, t(item.kind))
    pos = schema.POSITION.get(item.kind, schema.POSITION["Item"])
    chosen, ext, names = {}, [], []
    if shape.base == "AllProperties":
        names = list(item.props) + list(COMPUTED_FOR.get(item.kind, ())) + ["ParentFolderId"]
        if find:
            names = [n for n in names if n not in FIND_OMITS]
    elif shape.base == "Default":
        names = list(schema.DEFAULT_SHAPE.get(item.kind, ()))
    for p in shape.paths:
        if p.kind == "field":
            name = schema.uri_element(item.kind, p.uri)
            if name:
                names.append(name)
        elif p.kind == "indexed":
            name = schema.uri_element(item.kind, base_uri(p.uri))
            if name:
                _reference_indexed(item, name, p, chosen)
        else:
            el = render_ext(mb, item, p)
            if el is not None:
                ext.append(el)
    for name in names:
        if name in chosen or name == "ItemId" or name not in pos:
            continue
        el = element_value(mb, item, name)
        if el is not None:
            chosen[name] = el
    sub(out, t("ItemId"), Id=item.id, ChangeKey=item.change_key)
    ext_pos = pos["ExtendedProperty"]
    done_ext = False
    for name, el in sorted(chosen.items(), key=lambda kv: pos[kv[0]]):
        if not done_ext and pos[name] > ext_pos:
            out.extend(ext)
            done_ext = True
        copied = copy.deepcopy(el)
        copied.tail = None
        if name == "Body" and shape.body_type in ("Text", "HTML"):
            _convert_body(copied, shape.body_type)
        out.append(copied)
    if not done_ext:
        out.extend(ext)
    return out


def _reference_indexed(item, name, p, chosen):
    container = item.props.get(name)
    if container is None:
        return
    entry = next((e for e in container if e.get("Key") == p.index), None)
    if entry is None:
        return
    acc = chosen.get(name)
    if acc is None:
        acc = chosen[name] = etree.Element(t(name))
    target = next((e for e in acc if e.get("Key") == p.index), None)
    if ":PhysicalAddress:" in p.uri:
        part = p.uri.rsplit(":", 1)[1]
        src = next((c for c in entry if local(c) == part), None)
        if src is None:
            return
        if target is None:
            target = sub(acc, t("Entry"), Key=p.index)
        target.append(copy.deepcopy(src))
    elif target is None:
        acc.append(copy.deepcopy(entry))


def _reference_net_changes(mb, folder_id, since, limit, ignore=(), associated=False, unseen=()):
    import bisect

    start = bisect.bisect_right(mb._log_seqs, since)
    first, last, kinds, created_at, deleted_at = {}, {}, {}, {}, {}
    for seq, fid, iid, kind in mb.log[start:]:
        if fid != folder_id:
            continue
        first.setdefault(iid, seq)
        last[iid] = seq
        kinds.setdefault(iid, set()).add(kind)
        if kind == "create":
            created_at[iid] = seq
        elif kind == "delete":
            deleted_at[iid] = seq
    skip, hidden = set(ignore), set(unseen)
    picked, considered, cut = [], [], None
    for iid in sorted(first, key=first.__getitem__):
        item = mb.items.get(iid)
        if item is not None and item.folder_id != folder_id:
            item = None
        ks = kinds[iid]
        if item is None:
            never_sent = "create" in ks or iid in hidden or (iid in mb.associated_ids and not associated)
            change = None if never_sent else "delete"
        elif item.is_associated and not associated:
            change = None
        elif item.created_seq > since:
            change = "create"
        elif ks == {"read"}:
            change = "read"
        else:
            change = "update"
        if change is None or iid in skip:
            considered.append(iid)
            continue
        if len(picked) >= limit:
            cut = first[iid] - 1
            break
        considered.append(iid)
        picked.append((last[iid], change, iid, item))
    picked.sort(key=lambda p: p[0])
    new_seq = mb.seq if cut is None else cut
    carry = set()
    if cut is not None:
        sent_deletes = {i for _s, c, i, _it in picked if c == "delete"}
        for iid in considered:
            if iid in mb.items or iid not in deleted_at or deleted_at[iid] <= cut:
                continue
            if iid in hidden or iid in sent_deletes or created_at.get(iid, cut + 1) <= cut:
                carry.add(iid)
        carry |= {iid for iid in hidden if deleted_at.get(iid, cut + 1) > cut}
    return [(c, i, it) for _s, c, i, it in picked], new_seq, cut is None, sorted(carry)


# --- the comparisons ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_rendered_items_are_the_reference_rendering(seed):
    rng = random.Random(seed)
    mb = empty_mailbox()
    items = [_random_contact(mb, rng) for _ in range(25)]
    for item in items[::3]:
        prop = etree.Element(t("ExtendedProperty"))
        etree.SubElement(prop, t("ExtendedFieldURI"), EXT)
        etree.SubElement(prop, t("Value")).text = f"link-{rng.randrange(99)}"
        store_ext(mb, item, prop)
    for _ in range(20):
        shape, find = _shape(rng), rng.random() < 0.3
        ours, ref = etree.Element(t("Items")), etree.Element(t("Items"))
        for item in items:
            render_item(mb, item, ours, shape, find=find)
            _reference_render(mb, item, ref, Shape(shape.base, list(shape.paths), shape.body_type), find=find)
        assert etree.tostring(ours) == etree.tostring(ref)
    # rendering never hands out (or changes) the store's own elements
    before = {i.id: {k: etree.tostring(v) for k, v in i.props.items()} for i in items}
    parent = etree.Element(t("Items"))
    for item in items:
        render_item(mb, item, parent, _shape(rng))
    for el in parent.iter():
        el.text = "changed"
    assert before == {i.id: {k: etree.tostring(v) for k, v in i.props.items()} for i in items}


@pytest.mark.parametrize("seed", range(8))
def test_net_changes_are_the_reference_net_changes(seed):
    rng = random.Random(seed)
    mb = empty_mailbox()
    contacts = mb.distinguished["contacts"]
    states = [(0, [])]
    for _round in range(25):
        random_contact_edits(mb, rng, rng.randrange(0, 10), update_below=0.6, moves=("deleteditems", "contacts"))
        since, unseen = rng.choice(states)
        limit = rng.randrange(1, 9)
        ignore = rng.sample(sorted(mb.items), min(2, len(mb.items))) if rng.random() < 0.2 else ()
        ours = mb.net_changes(contacts, since, limit, ignore, unseen=unseen)
        assert ours == _reference_net_changes(mb, contacts, since, limit, ignore, unseen=unseen)
        states.append((ours[1], ours[3]))


def test_times_format_the_same_from_the_cache():
    import datetime as dt
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    ambiguous = [dt.datetime(2025, 10, 26, 1, 30, tzinfo=london, fold=f) for f in (0, 1)]  # equal, an hour apart
    assert [fmt(v) for v in ambiguous] == ["2025-10-26T00:30:00Z", "2025-10-26T01:30:00Z"]
    utc = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert fmt(utc) == fmt(utc.replace()) == "2025-01-02T03:04:05Z"
    assert fmt(dt.datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05Z"  # naive: UTC


# --- UpdateItem works on the item's own elements until it changes one in place --------------

_IDX = '<t:IndexedFieldURI FieldURI="contacts:{uri}" FieldIndex="{key}"/>'
_EXT_URI = '<t:ExtendedFieldURI ' + " ".join(f'{k}="{v}"' for k, v in EXT.items()) + "/>"
UPDATE_ACTIONS = [
    lambda r: (f'<t:SetItemField>{_IDX.format(uri="PhoneNumber", key=(k := r.choice(PHONES)))}<t:Contact><t:PhoneNumbers>'
               f'<t:Entry Key="{k}">{r.randrange(999)}</t:Entry></t:PhoneNumbers></t:Contact></t:SetItemField>'),
    lambda r: f'<t:DeleteItemField>{_IDX.format(uri="PhoneNumber", key=r.choice(PHONES))}</t:DeleteItemField>',
    lambda r: (f'<t:SetItemField>{_IDX.format(uri="EmailAddress", key=(k := r.choice(EMAILS)))}<t:Contact><t:EmailAddresses>'
               f'<t:Entry Key="{k}">e{r.randrange(99)}@x.example</t:Entry></t:EmailAddresses></t:Contact></t:SetItemField>'),
    lambda r: f'<t:DeleteItemField>{_IDX.format(uri="EmailAddress", key=r.choice(EMAILS))}</t:DeleteItemField>',
    lambda r: (f'<t:SetItemField>{_IDX.format(uri="PhysicalAddress:" + (p := r.choice(PARTS)), key=(k := r.choice(["Business", "Home"])))}'
               f'<t:Contact><t:PhysicalAddresses><t:Entry Key="{k}"><t:{p}>{p}{r.randrange(9)}</t:{p}></t:Entry>'
               f'</t:PhysicalAddresses></t:Contact></t:SetItemField>'),
    lambda r: (f'<t:DeleteItemField>{_IDX.format(uri="PhysicalAddress:" + r.choice(PARTS), key=r.choice(["Business", "Home"]))}'
               f'</t:DeleteItemField>'),
    lambda r: f'<t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/><t:Contact><t:JobTitle>T{r.randrange(9)}</t:JobTitle></t:Contact></t:SetItemField>',
    lambda r: '<t:DeleteItemField><t:FieldURI FieldURI="contacts:JobTitle"/></t:DeleteItemField>',
    lambda r: '<t:SetItemField><t:FieldURI FieldURI="item:Body"/><t:Contact><t:Body BodyType="Text">set</t:Body></t:Contact></t:SetItemField>',
    lambda r: '<t:AppendToItemField><t:FieldURI FieldURI="item:Body"/><t:Contact><t:Body BodyType="Text"> more</t:Body></t:Contact></t:AppendToItemField>',
    lambda r: (f'<t:SetItemField>{_EXT_URI}<t:Contact><t:ExtendedProperty>{_EXT_URI}<t:Value>v{r.randrange(9)}</t:Value>'
               f'</t:ExtendedProperty></t:Contact></t:SetItemField>'),
    lambda r: f'<t:DeleteItemField>{_EXT_URI}</t:DeleteItemField>',
]
FAILING = '<t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/></t:SetItemField>'  # nothing to set: refused


def _full_copy(item):  # the previous algorithm: every property and extended property copied up front
    work = copy.copy(item)
    work.props = {k: v.__copy__() for k, v in item.props.items()}
    work.ext = {k: copy.deepcopy(v) for k, v in item.ext.items()}
    return work


def _state(item):
    return ({k: etree.tostring(v) for k, v in item.props.items()},
            {k: (e.attrs, e.values, e.is_array) for k, e in item.ext.items()}, item.is_read)


@pytest.mark.parametrize("seed", range(4))
def test_updates_give_what_updating_a_full_copy_gave(seed, monkeypatch):
    from types import SimpleNamespace

    from app.sandbox.ews.operations import write
    from app.sandbox.ews.operations.common import Context
    from app.sandbox.ews.soap import EwsError

    rng = random.Random(seed)
    mb = empty_mailbox()
    ctx = Context(mb, SimpleNamespace(knobs={}), "UpdateItem")
    outcomes = []
    for _ in range(40):
        item = _random_contact(mb, rng)
        if rng.random() < 0.5:
            item.props["Body"] = etree.Element(t("Body"), BodyType="Text")
            item.props["Body"].text = "notes"
        if rng.random() < 0.5:
            store_ext(mb, item, etree.fromstring(f'<t:ExtendedProperty xmlns:t="{T}">{_EXT_URI.replace("/>", " />")}'
                                                 f'<t:Value>old</t:Value></t:ExtendedProperty>'))
        actions = [rng.choice(UPDATE_ACTIONS)(rng) for _ in range(rng.randrange(1, 8))]
        if rng.random() < 0.4:
            actions.insert(rng.randrange(1, len(actions) + 1), FAILING)  # after some have been applied
        change = etree.fromstring(f'<t:ItemChange xmlns:t="{T}"><t:ItemId Id="{item.id}"/><t:Updates>'
                                  f'{"".join(actions)}</t:Updates></t:ItemChange>')
        before, saved = _state(item), _full_copy(item)
        results = []
        for previous in (True, False):
            item.props, item.ext = _full_copy(saved).props, _full_copy(saved).ext
            with monkeypatch.context() as patch:
                if previous:
                    patch.setattr(write, "working_copy", _full_copy)
                    patch.setattr(write, "own_property", lambda *_: None)
                try:
                    write._apply_change(ctx, copy.deepcopy(change), "AutoResolve", None)
                    outcome = "ok"
                except EwsError as err:
                    outcome = err.code
            if outcome != "ok":
                assert _state(item) == before  # a refused update leaves the item as it was
            results.append((outcome, _state(item)))
        assert results[0] == results[1]
        outcomes.append(results[0][0])
    assert "ok" in outcomes and "ErrorIncorrectUpdatePropertyCount" in outcomes
