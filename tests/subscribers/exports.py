"""Subscriber files as other tools export them, column for column.

Where each shape comes from:

- Mailchimp audience exports (Audience > Export audience, a zip of one CSV per
  status, named ``subscribed_members_export_<id>.csv``, ``unsubscribed_...``,
  ``cleaned_...`` and ``nonsubscribed_...``): "Email Address", "First Name",
  "Last Name", the audience's own merge fields and one column per group
  category ("Topics of interest" here), then Mailchimp's fixed columns
  MEMBER_RATING, OPTIN_TIME, OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, LATITUDE, LONGITUDE,
  GMTOFF, DSTOFF, TIMEZONE, CC, REGION, then LAST_CHANGED for subscribed and
  non-subscribed contacts, UNSUB_TIME, UNSUB_CAMPAIGN_TITLE, UNSUB_CAMPAIGN_ID,
  UNSUB_REASON, UNSUB_REASON_OTHER for unsubscribed ones, CLEAN_TIME,
  CLEAN_CAMPAIGN_TITLE, CLEAN_CAMPAIGN_ID for cleaned ones, and LEID, EUID, NOTES,
  TAGS last. Times are UTC as "YYYY-MM-DD HH:MM:SS"; TAGS holds each tag quoted,
  comma-separated (``"Donor","Board"``). This is the column order of Mailchimp's
  list export (export API 1.0 ``list``, whose header several public client test
  suites record) plus the TAGS column the web export adds; every cell is quoted.
- listmonk's subscriber export (Subscribers > Export, ``subscribers.csv``): the
  header ``uuid,email,name,attributes,status,created_at,updated_at`` as written by
  ``handleExportSubscribers`` in listmonk's cmd/subscribers.go, attributes as a
  JSON object, status enabled / disabled / blocklisted, times in Go's
  ``time.Time.String()`` form.
- listmonk's API response ``GET /api/subscribers?per_page=all`` (``data.results``, each
  with ``attribs``, ``status`` and ``lists`` carrying ``subscription_status`` and the
  list's ``optin``), as in listmonk's API documentation (docs/apis/subscribers.md):
  the one listmonk export that says how each person is subscribed to each list.
- Our own export: ``exporter.HEADER``, written by the exporter itself in the tests.
"""

from __future__ import annotations

MAILCHIMP_HEAD = (
    '"Email Address","First Name","Last Name","Organisation","Topics of interest",'
    '"MEMBER_RATING","OPTIN_TIME","OPTIN_IP","CONFIRM_TIME","CONFIRM_IP","LATITUDE",'
    '"LONGITUDE","GMTOFF","DSTOFF","TIMEZONE","CC","REGION"'
)
MAILCHIMP_TAIL = '"LEID","EUID","NOTES","TAGS"'

MAILCHIMP_SUBSCRIBED = (
    f'{MAILCHIMP_HEAD},"LAST_CHANGED",{MAILCHIMP_TAIL}\n'
    '"ann.archer@example.org","Ann","Archer","Think Tank","Ukraine, Arms control","4",'
    '"2019-03-01 10:00:00","198.51.100.7","2019-03-01 10:05:12","198.51.100.8","51.5072",'
    '"-0.1276","0","1","Europe/London","GB","ENG","2024-05-02 08:00:00","123456789",'
    '"a1b2c3d4e5","","""Donor"",""Board"""\n'
    '"bob.brown@example.com","Bob","Brown","","Ukraine","2","","","2021-06-30 17:45:00",'
    '"203.0.113.9","","","","","","","","2024-01-02 09:30:00","123456790","b2c3d4e5f6","",'
    '"""Press"""\n'
    '"chloe.chen@example.net","Chloé","Chen","","","3","2022-11-11 11:11:11","2001:db8::1",'
    '"2022-11-11 11:20:00","2001:db8::1","","","","","","","","2023-02-03 10:00:00",'
    '"123456791","c3d4e5f6a7","",""\n'
)

MAILCHIMP_UNSUBSCRIBED = (
    f'{MAILCHIMP_HEAD},"UNSUB_TIME","UNSUB_CAMPAIGN_TITLE","UNSUB_CAMPAIGN_ID",'
    f'"UNSUB_REASON","UNSUB_REASON_OTHER",{MAILCHIMP_TAIL}\n'
    '"dmitri.d@example.org","Dmitri","D","","Ukraine","2","2018-01-05 08:00:00",'
    '"192.0.2.10","2018-01-05 08:03:00","192.0.2.10","","","","","","","",'
    '"2023-09-14 16:20:00","Briefing 98","a1b2c3","NORMAL","","123456792","d4e5f6a7b8","",'
    '"""Donor"""\n'
    '"eve.evans@example.com","Eve","Evans","","","1","","","2020-02-02 02:02:02","","","",'
    '"","","","","","2024-03-01 12:00:00","Briefing 101","b2c3d4","SPAM","","123456793",'
    '"e5f6a7b8c9","",""\n'
)

MAILCHIMP_CLEANED = (
    f'{MAILCHIMP_HEAD},"CLEAN_TIME","CLEAN_CAMPAIGN_TITLE","CLEAN_CAMPAIGN_ID",'
    f"{MAILCHIMP_TAIL}\n"
    '"fatima.f@example.org","Fatima","F","","","1","2017-07-07 07:07:07","192.0.2.44",'
    '"2017-07-07 07:09:00","192.0.2.44","","","","","","","","2022-08-08 08:08:08",'
    '"Briefing 80","c3d4e5","123456794","f6a7b8c9d0","",""\n'
)

MAILCHIMP_NONSUBSCRIBED = (
    f'{MAILCHIMP_HEAD},"LAST_CHANGED",{MAILCHIMP_TAIL}\n'
    '"gareth.g@example.com","Gareth","G","","","2","","","","","","","","","","","",'
    '"2024-04-04 04:04:04","123456795","a7b8c9d0e1","",""\n'
)

LISTMONK = (
    "uuid,email,name,attributes,status,created_at,updated_at\n"
    'c4a3b7f2-2b4d-4c1e-9f1a-1d2e3f4a5b6c,hiroshi@example.org,Hiroshi H,"{""city"": '
    '""Osaka"", ""tags"": [""Donor""]}",enabled,2021-04-01 09:30:00.123456 +0000 UTC,'
    "2024-02-01 10:00:00 +0000 UTC\n"
    "d5b4c8a3-3c5e-4d2f-8a2b-2e3f4a5b6c7d,ines@example.org,Ines I,{},disabled,"
    "2020-10-10 10:10:10.5 +0200 CEST,2024-02-01 10:00:00 +0000 UTC\n"
    "e6c5d9b4-4d6f-4e3a-9b3c-3f4a5b6c7d8e,jan@example.org,Jan J,{},blocklisted,"
    "2019-09-09 09:09:09 +0000 UTC,2024-02-01 10:00:00 +0000 UTC\n"
)

GERMAN = (
    "E-mail;Vorname;Nachname;Schlagworte;Telefon\n"
    "klara@example.de;Klara;Kurz;Spenderin;030 1234\n"
    "lutz@example.de;Lutz;Lang;;\n"
)


def _listmonk_person(
    number: int, email: str, status: str, lists: list[tuple[str, str, str]]
) -> str:
    subscriptions = ", ".join(
        f'{{"subscription_status": "{state}", "id": {i}, "uuid": '
        f'"ce13e971-c2ed-4069-bd0c-240e9a9f56f{i}", "name": "{name}", "type": "public", '
        f'"optin": "{optin}", "tags": ["test"], '
        '"created_at": "2020-02-10T23:07:16.194843+01:00", '
        '"updated_at": "2020-02-10T23:07:16.194843+01:00"}'
        for i, (name, state, optin) in enumerate(lists, start=1)
    )
    return (
        f'{{"id": {number}, "created_at": "2020-02-10T23:07:16.199433+01:00", '
        '"updated_at": "2020-02-10T23:07:16.199433+01:00", '
        f'"uuid": "ea06b2e7-4b08-4697-bcfc-2a5c6dde8f1{number}", "email": "{email}", '
        f'"name": "Person {number}", "attribs": {{"city": "Bengaluru", "good": true}}, '
        f'"status": "{status}", "lists": [{subscriptions}]}}'
    )


LISTMONK_API = (
    '{"data": {"results": ['
    + ", ".join(
        [
            _listmonk_person(
                1, "confirmed@example.org", "enabled", [("Weekly", "confirmed", "double")]
            ),
            _listmonk_person(
                2, "single@example.org", "enabled", [("Weekly", "unconfirmed", "single")]
            ),
            _listmonk_person(
                3, "waiting@example.org", "enabled", [("Weekly", "unconfirmed", "double")]
            ),
            _listmonk_person(
                4,
                "left@example.org",
                "enabled",
                [("Weekly", "unsubscribed", "double"), ("Events", "unsubscribed", "single")],
            ),
            _listmonk_person(
                5, "blocked@example.org", "blocklisted", [("Weekly", "unsubscribed", "double")]
            ),
        ]
    )
    + '], "query": "", "total": 5, "per_page": -1, "page": 1}}'
)
