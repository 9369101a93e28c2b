from channels.email.addresses import parse_recipient, reply_address, token_for, verify

SECRET = b"test-secret"


def test_reply_address_round_trips_and_verifies_for_its_recipient():
    address = reply_address("support@example.com", "SUP-1042", "Bob@Example.com", SECRET)
    assert address.startswith("support+sup-1042.") and address.endswith("@example.com")
    recipient = parse_recipient(address.upper())  # some relays fold case
    assert (recipient.mailbox, recipient.number) == ("support@example.com", "SUP-1042")
    assert verify(SECRET, recipient.number, "bob@example.com", recipient.token)


def test_token_does_not_verify_for_another_sender_ticket_or_secret():
    token = token_for(SECRET, "SUP-7", "bob@example.com")
    assert not verify(SECRET, "SUP-7", "mallory@evil.test", token)
    assert not verify(SECRET, "SUP-8", "bob@example.com", token)
    assert not verify(b"other", "SUP-7", "bob@example.com", token)


def test_plain_and_tagged_addresses_parse():
    assert parse_recipient("<Support@Example.com>").mailbox == "support@example.com"
    assert parse_recipient("support@example.com").number is None
    tagged = parse_recipient("support+sup-3@example.com")
    assert (tagged.mailbox, tagged.number, tagged.token) == ("support@example.com", "SUP-3", None)
    assert parse_recipient("not-an-address").mailbox == "not-an-address"
