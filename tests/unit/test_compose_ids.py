import uuid

from app.sync.compose import _new_id


def test_new_ids_are_random_version_4_uuids_spelt_as_uuid_spells_them():
    ids = [_new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122
    # every bit that is not the version or variant varies
    varying = 0
    for text in ids[1:]:
        varying |= uuid.UUID(text).int ^ uuid.UUID(ids[0]).int
    assert varying == (1 << 128) - 1 - (0xF << 76) - (0x3 << 62)
