"""Item and folder schema: element order per item type (exchangelib's field lists, which follow the
EWS XSD), FieldURI -> element name, indexed fields, read-only and computed properties."""
from __future__ import annotations

_ITEM = (
    "item:MimeContent item:ItemId item:ParentFolderId item:ItemClass item:Subject item:Sensitivity "
    "item:TextBody item:Body item:Attachments item:DateTimeReceived item:Size item:Categories "
    "item:Importance item:InReplyTo item:IsSubmitted item:IsDraft item:IsFromMe item:IsResend "
    "item:IsUnmodified item:InternetMessageHeaders item:DateTimeSent item:DateTimeCreated "
    "item:ResponseObjects item:ReminderDueBy item:ReminderIsSet item:ReminderMinutesBeforeStart "
    "item:DisplayCc item:DisplayTo item:HasAttachments @ExtendedProperty item:Culture item:EffectiveRights "
    "item:LastModifiedName item:LastModifiedTime item:IsAssociated item:WebClientReadFormQueryString "
    "item:WebClientEditFormQueryString item:ConversationId"
).split()

_CONTACT = (
    "contacts:FileAs contacts:FileAsMapping contacts:DisplayName contacts:GivenName contacts:Initials "
    "contacts:MiddleName contacts:Nickname contacts:CompleteName contacts:CompanyName contacts:EmailAddress "
    "contacts:PhysicalAddress contacts:PhoneNumber contacts:AssistantName contacts:Birthday "
    "contacts:BusinessHomePage contacts:Children contacts:Companies contacts:ContactSource contacts:Department "
    "contacts:Generation contacts:ImAddress contacts:JobTitle contacts:Manager contacts:Mileage "
    "contacts:OfficeLocation contacts:PostalAddressIndex contacts:Profession contacts:SpouseName "
    "contacts:Surname contacts:WeddingAnniversary contacts:HasPicture contacts:PhoneticFullName "
    "contacts:PhoneticFirstName contacts:PhoneticLastName contacts:Alias contacts:Notes contacts:Photo "
    "contacts:UserSMIMECertificate contacts:MSExchangeCertificate contacts:DirectoryId "
    "contacts:ManagerMailbox contacts:DirectReports"
).split()

_TASK = (
    "task:ActualWork task:AssignedTime task:BillingInformation task:ChangeCount task:Companies "
    "task:CompleteDate task:Contacts task:DelegationState task:Delegator task:DueDate "
    "task:IsAssignmentEditable task:IsComplete task:IsRecurring task:IsTeamTask task:Mileage task:Owner "
    "task:PercentComplete task:Recurrence task:StartDate task:Status task:StatusDescription task:TotalWork"
).split()

_CALENDAR = (
    "item:UniqueBody calendar:UID calendar:RecurrenceId calendar:Start calendar:End calendar:OriginalStart "
    "calendar:IsAllDayEvent calendar:LegacyFreeBusyStatus calendar:Location calendar:When "
    "calendar:IsMeeting calendar:IsCancelled calendar:IsRecurring calendar:MeetingRequestWasSent "
    "calendar:IsResponseRequested calendar:CalendarItemType calendar:MyResponseType calendar:Organizer "
    "calendar:RequiredAttendees calendar:OptionalAttendees calendar:Resources "
    "calendar:ConflictingMeetingCount calendar:AdjacentMeetingCount calendar:ConflictingMeetings "
    "calendar:AdjacentMeetings calendar:Duration calendar:AppointmentReplyTime "
    "calendar:AppointmentSequenceNumber calendar:AppointmentState calendar:Recurrence "
    "calendar:FirstOccurrence calendar:LastOccurrence calendar:ModifiedOccurrences "
    "calendar:DeletedOccurrences calendar:MeetingTimeZone calendar:StartTimeZone calendar:EndTimeZone "
    "calendar:ConferenceType calendar:AllowNewTimeProposal calendar:IsOnlineMeeting "
    "calendar:MeetingWorkspaceUrl calendar:NetShowUrl"
).split()

_MESSAGE = (
    "item:UniqueBody message:Sender message:ToRecipients message:CcRecipients message:BccRecipients "
    "message:IsReadReceiptRequested message:IsDeliveryReceiptRequested message:ConversationIndex "
    "message:ConversationTopic message:From message:InternetMessageId message:IsRead "
    "message:IsResponseRequested message:References message:ReplyTo message:ReceivedBy "
    "message:ReceivedRepresenting message:ReminderMessageData"
).split()

# Indexed FieldURIs and their container elements.
INDEXED = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhysicalAddress": "PhysicalAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
}
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")

ITEM_TYPES = ("Contact", "Task", "CalendarItem", "Message")
ITEM_CLASS = {"Contact": "IPM.Contact", "Task": "IPM.Task", "CalendarItem": "IPM.Appointment",
              "Message": "IPM.Note", "DistributionList": "IPM.DistList", "PostItem": "IPM.Post",
              "Item": "IPM"}
# Accepted item element per folder class; a foreign type is refused.
FOLDER_ACCEPTS = {
    "IPF.Contact": ("Contact", "DistributionList"),
    "IPF.Task": ("Task",),
    "IPF.Appointment": ("CalendarItem",),
}


def _element(uri: str) -> str:
    if uri in INDEXED:
        return INDEXED[uri]
    return uri.split(":", 1)[1]


def _order(extra: list[str], with_unique_body: bool = False) -> list[str]:
    return [("ExtendedProperty" if u == "@ExtendedProperty" else _element(u)) for u in _ITEM + extra]


ORDER: dict[str, list[str]] = {
    "Contact": _order(_CONTACT),
    "Task": _order(_TASK),
    "CalendarItem": _order(_CALENDAR),
    "Message": _order(_MESSAGE),
}
ORDER["DistributionList"] = ORDER["Contact"]
ORDER["Item"] = _order([])
ORDER["PostItem"] = ORDER["Message"]

# FieldURI -> element, per type (only the URIs valid for that type).
URIS: dict[str, dict[str, str]] = {}
for _kind, _extra in (("Contact", _CONTACT), ("Task", _TASK), ("CalendarItem", _CALENDAR),
                      ("Message", _MESSAGE), ("Item", [])):
    URIS[_kind] = {u: _element(u) for u in _ITEM + _extra if not u.startswith("@")}
URIS["DistributionList"] = URIS["Contact"]
URIS["PostItem"] = URIS["Message"]
POSITION = {kind: {name: i for i, name in enumerate(order)} for kind, order in ORDER.items()}

# Elements the server computes; a client cannot set them (stored values are ignored).
COMPUTED = {
    "ItemId", "ParentFolderId", "DateTimeReceived", "Size", "IsSubmitted", "IsDraft", "IsFromMe",
    "IsResend", "IsUnmodified", "DateTimeSent", "DateTimeCreated", "ResponseObjects", "DisplayCc",
    "DisplayTo", "HasAttachments", "EffectiveRights", "LastModifiedName", "LastModifiedTime",
    "IsAssociated", "ConversationId", "TextBody", "UniqueBody", "WebClientReadFormQueryString",
    "WebClientEditFormQueryString", "CompleteName", "ContactSource", "HasPicture",
    "IsComplete", "CompleteDate", "IsRecurring", "ChangeCount", "DelegationState", "IsTeamTask",
    "IsAssignmentEditable", "StatusDescription", "Owner", "IsMeeting", "IsCancelled",
    "MeetingRequestWasSent", "CalendarItemType", "MyResponseType", "Organizer", "Duration",
    "AppointmentState", "AppointmentSequenceNumber", "FirstOccurrence", "LastOccurrence",
    "ModifiedOccurrences", "DeletedOccurrences", "ConversationTopic", "ConversationIndex", "Sender",
    "ReceivedBy", "ReceivedRepresenting", "ItemClass", "InternetMessageHeaders", "MimeContent",
    "Attachments", "ConflictingMeetingCount", "AdjacentMeetingCount", "ConflictingMeetings",
    "AdjacentMeetings", "AppointmentReplyTime", "OriginalStart", "RecurrenceId",
}
# Computed elements the client may still send on create (and we keep).
SETTABLE_ON_CREATE = {"ItemClass", "MimeContent", "IsRead", "IsAssociated"}

# Elements returned by BaseShape Default (besides ItemId); AllProperties returns everything stored.
DEFAULT_SHAPE = {
    "Contact": ("ParentFolderId", "ItemClass", "Subject", "DisplayName", "GivenName", "Surname",
                "CompanyName", "EmailAddresses", "PhoneNumbers", "PhysicalAddresses", "JobTitle"),
    "Task": ("ParentFolderId", "ItemClass", "Subject", "DueDate", "PercentComplete", "StartDate", "Status"),
    "CalendarItem": ("ParentFolderId", "ItemClass", "Subject", "Start", "End", "IsAllDayEvent",
                     "Location", "CalendarItemType", "Organizer"),
    "Message": ("ParentFolderId", "ItemClass", "Subject", "DateTimeSent", "HasAttachments",
                "ToRecipients", "From", "IsRead"),
}

DISTINGUISHED = {
    # id: (display name, folder class, parent distinguished id, element)
    "root": ("Top of Information Store", None, None, "Folder"),
    "msgfolderroot": ("Top of Information Store", "IPF.Note", "root", "Folder"),
    "inbox": ("Inbox", "IPF.Note", "msgfolderroot", "Folder"),
    "sentitems": ("Sent Items", "IPF.Note", "msgfolderroot", "Folder"),
    "drafts": ("Drafts", "IPF.Note", "msgfolderroot", "Folder"),
    "deleteditems": ("Deleted Items", "IPF.Note", "msgfolderroot", "Folder"),
    "junkemail": ("Junk Email", "IPF.Note", "msgfolderroot", "Folder"),
    "outbox": ("Outbox", "IPF.Note", "msgfolderroot", "Folder"),
    "contacts": ("Contacts", "IPF.Contact", "msgfolderroot", "ContactsFolder"),
    "calendar": ("Calendar", "IPF.Appointment", "msgfolderroot", "CalendarFolder"),
    "tasks": ("Tasks", "IPF.Task", "msgfolderroot", "TasksFolder"),
    "notes": ("Notes", "IPF.StickyNote", "msgfolderroot", "Folder"),
    "journal": ("Journal", "IPF.Journal", "msgfolderroot", "Folder"),
    "recoverableitemsroot": ("Recoverable Items", None, "root", "Folder"),
    "recoverableitemsdeletions": ("Deletions", None, "recoverableitemsroot", "Folder"),
}
FOLDER_ELEMENT = {"IPF.Contact": "ContactsFolder", "IPF.Appointment": "CalendarFolder",
                  "IPF.Task": "TasksFolder", "IPF.Note.OutlookHomepage": "SearchFolder"}


def folder_element(folder_class: str | None) -> str:
    for prefix, element in FOLDER_ELEMENT.items():
        if folder_class and (folder_class == prefix or folder_class.startswith(prefix + ".")):
            return element
    return "Folder"


def uri_element(kind: str, uri: str) -> str | None:
    """Element local name of a FieldURI for an item type, or None when foreign to the type."""
    return URIS.get(kind, URIS["Item"]).get(uri)
