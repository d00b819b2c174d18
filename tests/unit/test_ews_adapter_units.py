"""Error translation, property registration and client settings of the EWS adapter (no sockets)."""
from __future__ import annotations

import pytest
import requests
from exchangelib import BaseProtocol, CalendarItem, Contact, Message, NoVerifyHTTPAdapter, Task
from exchangelib import errors as ex

from app.connectors.ews import errors as tr
from app.connectors.ews import properties
from app.connectors.ews.client import EwsHttpAdapter, EwsSettings, build_text, parse_build
from app.errors import AuthError, ConfigError, ItemRejected, NotFound, StaleVersion, TransientError
from app.sync.ports import InvalidSyncToken


@pytest.mark.parametrize("exc,expected", [
    (ex.ErrorIrresolvableConflict("The change key passed in the request does not match"), StaleVersion),
    (ex.ErrorStaleObject("stale"), StaleVersion),
    (ex.ErrorItemNotFound("gone"), NotFound),
    (ex.ErrorInvalidSyncStateData("bad state"), InvalidSyncToken),
    (ex.ErrorSyncFolderNotFound("no folder"), InvalidSyncToken),
    (ex.UnauthorizedError("Invalid credentials for https://mail/EWS/Exchange.asmx"), AuthError),
    (ex.ErrorAccessDenied("denied"), AuthError),
    (ex.ErrorNonExistentMailbox("nobody"), ConfigError),
    (ex.ErrorInvalidServerVersion("old"), ConfigError),
    (ex.ErrorServerBusy("busy", back_off=1.5), TransientError),
    (ex.RateLimitError("Max timeout reached", 400.0), TransientError),
    (ex.ErrorExceededConnectionCount("too many"), TransientError),
    (ex.ErrorTimeoutExpired("timeout"), TransientError),
    (ex.TransportError("connection reset"), TransientError),
    (requests.exceptions.ConnectionError("refused"), TransientError),
    (ex.ErrorInvalidChangeKey("malformed"), ItemRejected),
    (ex.ErrorItemSave("cannot save"), ItemRejected),
    (ex.ErrorSchemaValidation("schema"), ItemRejected),
    (ValueError("'end' must be greater than 'start'"), ItemRejected),
])
def test_translation_table(exc, expected):
    err = tr.to_app_error(exc, op="testing", ref="ID1")
    assert type(err) is expected and err.ref == "ID1" and str(err)


def test_busy_carries_the_server_back_off():
    assert tr.to_app_error(ex.ErrorServerBusy("busy", back_off=1.5)).retry_after == 1.5
    assert tr.to_app_error(ex.ErrorServerBusy("busy")).retry_after is None


def test_translated_never_lets_library_exceptions_out():
    with pytest.raises(StaleVersion) as caught:
        with tr.translated("updating"):
            raise ex.ErrorIrresolvableConflict("conflict")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(TransientError):
        with tr.translated("reading"):
            raise requests.exceptions.SSLError("EOF occurred") from OSError("reset")  # not a certificate problem
    with pytest.raises(ConfigError) as tls:
        with tr.translated("reading"):
            raise ex.TransportError("HTTPSConnectionPool: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "--ca-bundle" in str(tls.value)


def test_properties_register_once_idempotently_and_deregister():
    properties.register_properties()
    properties.register_properties()
    for model in (Contact, Task, CalendarItem, Message):
        for name in ("crm_id", "link_id", "sharing_state"):
            field = model.get_field_by_fieldname(name)
            assert field.value_cls.property_set_id == properties.PRODUCT_PROPERTY_SET_GUID
    assert Message.get_field_by_fieldname("lease_data")
    properties.deregister_properties()
    with pytest.raises(Exception):
        Contact.get_field_by_fieldname("crm_id")
    properties.register_properties()  # leave the process as the other tests expect it
    assert properties.properties_registered()


def test_one_fixed_guid_distinct_names():
    props = [properties.CrmIdProperty, properties.LinkIdProperty, properties.SharingStateProperty,
             properties.LeaseDataProperty]
    assert {p.property_set_id for p in props} == {"8f3c2a61-5d1e-4b7a-9c0e-3f6b2d1a7e54"}
    assert len({p.property_name for p in props}) == 4


def test_settings_never_show_secrets():
    s = EwsSettings(endpoint="https://m/EWS/Exchange.asmx", mailbox="a@b", username="u", password="hunter2",
                    token_credentials=object())
    assert "hunter2" not in repr(s) and "token_credentials" not in repr(s)


def test_build_parse_and_format():
    assert build_text(parse_build("15.1.2507.6")) == "15.1.2507.6"
    assert parse_build("") is None
    with pytest.raises(ConfigError):
        parse_build("fifteen")


def test_http_adapter_verifies_and_maps_ca_files_per_endpoint(monkeypatch):
    assert not issubclass(EwsHttpAdapter, NoVerifyHTTPAdapter)
    EwsHttpAdapter.register("https://mail.example.com/EWS/Exchange.asmx", "/etc/company-ca.pem")
    assert BaseProtocol.HTTP_ADAPTER_CLS is EwsHttpAdapter
    seen = []
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send",
                        lambda self, request, **kw: seen.append(kw["verify"]) or requests.Response())
    adapter = EwsHttpAdapter()
    for url in ("https://MAIL.example.com/EWS/Exchange.asmx", "https://other.example.com/x"):
        adapter.send(requests.Request("POST", url).prepare(), verify=True)
    assert seen == ["/etc/company-ca.pem", True]
    assert EwsHttpAdapter.requests_to("https://mail.example.com/anything") >= 1
    EwsHttpAdapter._bundles.pop("https://mail.example.com")


def test_settings_from_the_profile_mailbox_section():
    from app.settings import MailboxAccount

    acct = MailboxAccount(ews_url="https://mail.example.com/EWS/Exchange.asmx", address="me@example.com",
                          username="EXAMPLE\\me", auth="basic", ews_build="15.2.1118.7", timezone="Europe/London",
                          ca_bundle="/etc/ca.pem")
    s = EwsSettings.from_account(acct, "pw", max_wait=60)
    assert (s.endpoint, s.mailbox, s.username, s.password, s.auth, s.build, s.timezone, s.ca_bundle, s.max_wait) == (
        acct.ews_url, "me@example.com", "EXAMPLE\\me", "pw", "basic", "15.2.1118.7", "Europe/London", "/etc/ca.pem", 60)
    assert EwsSettings.from_account(MailboxAccount(address="me@example.com"), "pw").username == "me@example.com"


def test_a_folder_refusing_its_change_feed_is_lost_access_not_an_empty_folder():
    import pytest

    from app.connectors.ews.mailbox import _folder_access
    from app.domain.records import Kind
    from app.errors import AuthError, CollectionUnavailable, ConfigError

    def feed(err):
        yield "page 1"
        raise err

    for code, cls in (("ErrorAccessDenied", AuthError), ("ErrorFolderNotFound", ConfigError)):
        err = cls("reading contacts changes: denied")
        err.ews_code = code
        pages = _folder_access(feed(err), Kind.PERSON)
        assert next(pages) == "page 1"
        with pytest.raises(CollectionUnavailable) as got:
            next(pages)
        assert got.value.collection == "outlook:person" and code in got.value.message
    other = ConfigError("ErrorInvalidRequest")  # anything else keeps its own meaning
    other.ews_code = "ErrorInvalidRequest"
    with pytest.raises(ConfigError) as got:
        list(_folder_access(feed(other), Kind.PERSON))
    assert not isinstance(got.value, CollectionUnavailable)


def test_access_denied_and_folder_errors_carry_their_ews_code():
    from exchangelib import errors as ex

    from app.connectors.ews.errors import to_app_error

    assert to_app_error(ex.ErrorAccessDenied("no")).ews_code == "ErrorAccessDenied"
    assert to_app_error(ex.ErrorFolderNotFound("gone")).ews_code == "ErrorFolderNotFound"
