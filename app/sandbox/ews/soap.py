"""SOAP 1.1 envelopes, response messages and faults shaped like Exchange's."""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
NSMAP = {"s": SOAP, "m": M, "t": T}
RESPONSE_NSMAP = {"m": M, "t": T, "xsi": XSI, "xsd": XSD}
CONTENT_TYPE = "text/xml; charset=utf-8"

BUSY_TEXT = "The server cannot service this request right now. Try again later."


def t(name: str) -> str:
    return f"{{{T}}}{name}"


def m(name: str) -> str:
    return f"{{{M}}}{name}"


_LOCAL_NAMES: dict[str, str] = {}
_SubElement = etree.SubElement


def local(el) -> str:
    tag = el.tag
    try:
        return _LOCAL_NAMES[tag]
    except KeyError:  # a tag not seen yet, or a comment's or processing instruction's (a function)
        if not isinstance(tag, str):
            return ""
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < 4096:  # the schema's names; a client's made-up tags are not kept
            _LOCAL_NAMES[tag] = name
        return name


def sub(parent, tag: str, text: str | None = None, **attrs: str):
    if attrs and None in attrs.values():  # an attribute without a value is left out
        attrs = {k: v for k, v in attrs.items() if v is not None}
    el = _SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


@dataclass(frozen=True)
class ServerVersion:
    major: int = 15
    minor: int = 1
    major_build: int = 2507
    minor_build: int = 6
    version: str = "V2017_07_11"


class EwsError(Exception):
    """A per-message error: becomes ResponseClass="Error" with this ResponseCode."""

    def __init__(self, code: str, text: str = "", xml: dict[str, str] | None = None,
                 response_class: str = "Error"):
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text or DEFAULT_TEXTS.get(code, "An internal server error occurred. The operation failed.")
        self.xml = xml or {}
        self.response_class = response_class


class SoapFault(Exception):
    """A request-level failure: becomes an s:Fault (HTTP 500)."""

    def __init__(self, code: str, text: str, xml: dict[str, str] | None = None, faultcode: str | None = None,
                 elements: dict[str, str] | None = None):
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.xml = xml or {}  # MessageXml/t:Value Name=key
        self.elements = elements or {}  # MessageXml/t:<key> (schema violations)
        self.faultcode = faultcode


DEFAULT_TEXTS = {
    "ErrorItemNotFound": "The specified object was not found in the store., The process failed to get the correct properties.",
    "ErrorFolderNotFound": "The specified folder could not be found in the store.",
    "ErrorInvalidIdMalformed": "Id is malformed.",
    "ErrorInvalidChangeKey": "ChangeKey is invalid.",
    "ErrorIrresolvableConflict": "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item., Property conflicts were detected.",
    "ErrorInvalidSyncStateData": "Synchronization state data is corrupt or otherwise invalid.",
    "ErrorSyncFolderNotFound": "The specified folder could not be found in the store.",
    "ErrorFolderExists": "A folder with the specified name already exists.",
    "ErrorServerBusy": BUSY_TEXT,
    "ErrorObjectTypeChanged": "The property can't be used with this type of object.",
    "ErrorInvalidPropertySet": "Set action is invalid for property.",
    "ErrorInvalidPropertyRequest": "The property request is invalid.",
    "ErrorCannotDeleteObject": "The object cannot be deleted.",
    "ErrorMoveCopyFailed": "The move or copy operation failed.",
    "ErrorInvalidArgument": "The value is out of range.",
}


def envelope(version: ServerVersion):
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    header = sub(env, f"{{{SOAP}}}Header")
    etree.SubElement(
        header,
        "{%s}ServerVersionInfo" % T,
        {
            "MajorVersion": str(version.major),
            "MinorVersion": str(version.minor),
            "MajorBuildNumber": str(version.major_build),
            "MinorBuildNumber": str(version.minor_build),
            "Version": version.version,
        },
        nsmap={"h": T, "xsd": XSD, "xsi": XSI},
    )
    # ServerVersionInfo lives in the types namespace under the conventional prefix "h".
    body = sub(env, f"{{{SOAP}}}Body")
    return env, body


def operation_response(body, operation: str):
    resp = etree.SubElement(body, m(f"{operation}Response"), nsmap=RESPONSE_NSMAP)
    msgs = sub(resp, m("ResponseMessages"))
    return resp, msgs


def success_message(msgs, operation: str, response_class: str = "Success", code: str = "NoError"):
    msg = sub(msgs, m(f"{operation}ResponseMessage"), ResponseClass=response_class)
    sub(msg, m("ResponseCode"), code)
    return msg


def error_message(msgs, operation: str, err: EwsError):
    msg = sub(msgs, m(f"{operation}ResponseMessage"), ResponseClass=err.response_class)
    sub(msg, m("MessageText"), err.text)
    sub(msg, m("ResponseCode"), err.code)
    sub(msg, m("DescriptiveLinkKey"), "0")
    if err.xml:
        mx = sub(msg, m("MessageXml"))
        for name, value in err.xml.items():
            sub(mx, t("Value"), str(value), Name=name)
    return msg


def fault_document(version: ServerVersion | None, fault: SoapFault) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    if version is not None:
        header = sub(env, f"{{{SOAP}}}Header")
        etree.SubElement(
            header, t("ServerVersionInfo"),
            {"MajorVersion": str(version.major), "MinorVersion": str(version.minor),
             "MajorBuildNumber": str(version.major_build), "MinorBuildNumber": str(version.minor_build),
             "Version": version.version},
            nsmap={"h": T},
        )
    body = sub(env, f"{{{SOAP}}}Body")
    f = sub(body, f"{{{SOAP}}}Fault")
    fc = etree.SubElement(f, "faultcode", nsmap={"a": T})
    fc.text = fault.faultcode or f"a:{fault.code}"
    fs = sub(f, "faultstring", fault.text)
    fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    detail = sub(f, "detail")
    etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = fault.code
    etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = fault.text
    if fault.xml or fault.elements:
        mx = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        for name, value in fault.xml.items():
            sub(mx, t("Value"), str(value), Name=name)
        for name, value in fault.elements.items():
            sub(mx, t(name), str(value))
    return serialize(env)


def serialize(env) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>' + etree.tostring(env, encoding="utf-8")


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=True)


def parse_request(data: bytes):
    """Return (operation element, header element or None). Raises SoapFault on malformed input."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {exc}",
                        faultcode="a:ErrorSchemaValidation")
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: no SOAP envelope.")
    header = root.find(f"{{{SOAP}}}Header")
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) == 0:
        raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: empty SOAP body.")
    op = next((c for c in body if isinstance(c.tag, str)), None)
    if op is None:
        raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: empty SOAP body.")
    return op, header


XS_TRUE = {"true", "1"}


def xs_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in XS_TRUE


# RequestServerVersion values in release order; a request newer than the server's own API
# version draws ErrorInvalidServerVersion (as a fault, so clients step down, as from Exchange).
API_VERSIONS = ("Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
                "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016", "V2015_10_05", "V2016_01_06",
                "V2016_04_13", "V2016_07_13", "V2016_10_10", "V2017_04_14", "V2017_07_11", "Exchange2019")


def api_rank(name: str | None) -> int:
    if not name:
        return 0
    if name in API_VERSIONS:
        return API_VERSIONS.index(name)
    if name.startswith("V2_"):  # Exchange 2013's header spelling
        return API_VERSIONS.index("Exchange2013_SP1")
    return -1


def check_requested_version(header, version: ServerVersion) -> None:
    if header is None:
        return
    rsv = header.find(t("RequestServerVersion"))
    if rsv is None:
        return
    requested = rsv.get("Version")
    rank = api_rank(requested)
    if rank < 0 or rank > api_rank(version.version):
        raise SoapFault("ErrorInvalidServerVersion", "The specified server version is invalid.")
