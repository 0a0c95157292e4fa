"""A local fake of the parts of Stripe's API the donations code uses.

A real HTTP server on 127.0.0.1 that the real ``stripe`` library talks to (via
``StripeClient(base_addresses={"api": fake.url})``). It parses form bodies the
way Stripe does (``metadata[key]``, ``line_items[0][price_data][currency]``),
refuses what Stripe refuses (unknown or missing parameters, wrong types,
mode-specific rules, amounts under the currency minimum, reused idempotency keys
with other parameters) with Stripe-shaped errors, and answers with objects built
from Stripe's own fixtures (``tests/donations/fixtures/stripe-fixtures3.json``). It also
signs webhook events with Stripe's v1 scheme.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.donations.stripe_rules import (
    StripeFailure,
    decode_form,
    integer_param,
    invalid,
    refuse_unknown,
    url_param,
    validate_session,
)

# Stripe's own object fixtures (MIT, licence beside them), copied into the repository so a
# clone on its own runs every test.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stripe-fixtures3.json"


class FakeStripe:
    """State, HTTP server and helpers; use as a context manager in a fixture."""

    def __init__(self) -> None:
        self.fixtures: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
        self.sessions: dict[str, dict[str, Any]] = {}
        self.customers: set[str] = set()
        self.events: list[dict[str, Any]] = []
        self.idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.invoice_payments: dict[str, list[dict[str, Any]]] = {}
        #: path -> how many of the next requests to it fail with a 500 (an outage)
        self.outages: dict[str, int] = {}
        #: the account every accepted key belongs to (GET /v1/account)
        self.account: dict[str, Any] = copy.deepcopy(self.fixtures["account"])
        self.account.update(
            id="acct_fake" + secrets.token_hex(4), country="GB", default_currency="gbp"
        )
        self.account["charges_enabled"] = True
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- API ---------------------------------------------------------------

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        facts = validate_session(params)
        session: dict[str, Any] = copy.deepcopy(self.fixtures["checkout.session"])
        sid = "cs_test_" + secrets.token_urlsafe(30).replace("-", "a").replace("_", "b")
        now = int(time.time())
        session.update(
            id=sid,
            url=f"{self.url}/c/pay/{sid}",
            mode=facts["mode"],
            status="open",
            payment_status="unpaid",
            currency=facts["currency"],
            amount_total=facts["total"],
            amount_subtotal=facts["total"],
            metadata=facts["metadata"],
            client_reference_id=params.get("client_reference_id"),
            success_url=params["success_url"],
            cancel_url=params.get("cancel_url"),
            customer_email=params.get("customer_email"),
            customer_creation=params.get("customer_creation"),
            submit_type=params.get("submit_type"),
            created=now,
            expires_at=now + 86400,
            payment_intent=None,
            subscription=None,
            customer=None,
            invoice=None,
            customer_details=None,
            shipping_address_collection=None,
            shipping_cost=None,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            currency_conversion=None,
            livemode=False,
        )
        self.sessions[sid] = session
        return session

    def retrieve_session(self, sid: str) -> dict[str, Any]:
        if sid not in self.sessions:
            raise StripeFailure(
                404, f"No such checkout.session: '{sid}'", "session", code="resource_missing"
            )
        return self.sessions[sid]

    def create_portal(self, params: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown(
            params, {"customer", "return_url", "configuration", "locale", "flow_data"}, ""
        )
        customer = params.get("customer")
        if not customer:
            raise invalid("Missing required param: customer.", "customer", "parameter_missing")
        if customer not in self.customers:
            raise StripeFailure(
                400, f"No such customer: '{customer}'", "customer", code="resource_missing"
            )
        portal: dict[str, Any] = copy.deepcopy(self.fixtures["billing_portal.session"])
        pid = "bps_" + secrets.token_hex(12)
        portal.update(
            id=pid,
            customer=customer,
            livemode=False,
            flow=None,
            return_url=url_param(params["return_url"], "return_url")
            if "return_url" in params
            else None,
            url=f"{self.url}/p/session/{pid}",
        )
        return portal

    def list_events(self, params: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown(
            params,
            {
                "created",
                "type",
                "types",
                "limit",
                "starting_after",
                "ending_before",
                "delivery_success",
            },
            "",
        )
        limit = integer_param(params.get("limit", "10"), "limit", 1)
        if limit > 100:
            raise invalid("This value must be less than or equal to 100.", "limit")
        created = params.get("created", {})
        gte = (
            integer_param(created["gte"], "created[gte]")
            if isinstance(created, dict) and "gte" in created
            else 0
        )
        types = params.get("types") or []
        if not isinstance(types, list) or len(types) > 20:
            raise invalid("types must be an array of at most 20 event types.", "types")
        found = [
            e
            for e in reversed(self.events)
            if e["created"] >= gte and (not types or e["type"] in types)
        ]
        after = params.get("starting_after")
        if after:
            ids = [e["id"] for e in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        return {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(found) > limit,
            "data": found[:limit],
        }

    def list_invoice_payments(self, params: dict[str, Any]) -> dict[str, Any]:
        allowed = {"created", "ending_before", "expand", "invoice", "limit", "payment"}
        refuse_unknown(params, allowed | {"starting_after", "status"}, "")
        limit = integer_param(params.get("limit", "10"), "limit", 1)
        if limit > 100:
            raise invalid("This value must be less than or equal to 100.", "limit")
        status = params.get("status")
        if status is not None and status not in ("canceled", "open", "paid"):
            raise invalid("Invalid status: must be one of canceled, open, or paid", "status")
        invoice = params.get("invoice")
        if invoice is not None and invoice not in self.invoice_payments:
            raise StripeFailure(
                404, f"No such invoice: '{invoice}'", "invoice", code="resource_missing"
            )
        paid_by = _payment_filter(params.get("payment"))
        every = [p for ps in self.invoice_payments.values() for p in ps]  # lock held
        found = [
            p
            for p in reversed(every)
            if (invoice is None or p["invoice"] == invoice)
            and (status is None or p["status"] == status)
            and (paid_by is None or p["payment"].get("payment_intent") == paid_by)
        ]
        return {
            "object": "list",
            "url": "/v1/invoice_payments",
            "has_more": len(found) > limit,
            "data": found[:limit],
        }

    # -- helpers for tests ---------------------------------------------------

    def pay(
        self,
        sid: str,
        *,
        email: str = "donor@example.net",
        name: str = "Dee Donor",
        paid: bool = True,
    ) -> dict[str, Any]:
        """What Stripe does when the donor completes Checkout: the session is complete."""
        session = self.sessions[sid]
        customer = "cus_" + secrets.token_hex(7)
        self.customers.add(customer)
        details = copy.deepcopy(self.fixtures["checkout.session"]["customer_details"])
        details.update(email=email, name=name)
        session.update(
            status="complete",
            payment_status="paid" if paid else "unpaid",
            customer=customer,
            customer_details=details,
        )
        if session["mode"] == "payment":
            session["payment_intent"] = "pi_" + secrets.token_hex(12)
        else:
            session["subscription"] = "sub_" + secrets.token_hex(12)
        paid_session: dict[str, Any] = copy.deepcopy(session)
        return paid_session

    def invoice(
        self,
        session: dict[str, Any],
        *,
        invoice_id: str | None = None,
        reason: str = "subscription_create",
    ) -> dict[str, Any]:
        """A paid invoice of a monthly gift, shaped like Stripe's fixture (newer API)."""
        inv: dict[str, Any] = copy.deepcopy(self.fixtures["invoice"])
        amount = session["amount_total"]
        inv.update(
            id=invoice_id or "in_" + secrets.token_hex(12),
            status="paid",
            amount_paid=amount,
            amount_due=amount,
            amount_remaining=0,
            total=amount,
            subtotal=amount,
            currency=session["currency"],
            customer=session["customer"],
            customer_email=session["customer_details"]["email"],
            customer_name=session["customer_details"]["name"],
            billing_reason=reason,
            subscription=None,
            livemode=False,
            created=int(time.time()),
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": session["subscription"],
                    "metadata": session["metadata"],
                },
            },
        )
        # Stripe's default invoice names no payment intent or charge, and has no
        # ``payments`` unless expanded: the payment is found via /v1/invoice_payments.
        payment: dict[str, Any] = copy.deepcopy(self.fixtures["invoice_payment"])
        payment.update(
            id="inpay_" + secrets.token_hex(12),
            invoice=inv["id"],
            amount_paid=amount,
            amount_requested=amount,
            currency=inv["currency"],
            status="paid",
            is_default=True,
            livemode=False,
            created=inv["created"],
            payment={"type": "payment_intent", "payment_intent": "pi_" + secrets.token_hex(12)},
            status_transitions={"canceled_at": None, "paid_at": inv["created"]},
        )
        with self.lock:
            self.invoice_payments.setdefault(inv["id"], []).append(payment)
        return inv

    def paid_by(self, invoice_id: str) -> str:
        """The payment intent that paid ``invoice_id`` (what a refund's charge names)."""
        return str(self.invoice_payments[invoice_id][0]["payment"]["payment_intent"])

    def charge(
        self, payment_intent: str, amount: int, *, refunded: int = 0, charge_id: str = ""
    ) -> dict[str, Any]:
        """The charge behind a payment, after ``refunded`` minor units were refunded."""
        obj: dict[str, Any] = copy.deepcopy(self.fixtures["charge"])
        obj.update(
            id=charge_id or "ch_" + secrets.token_hex(12),
            amount=amount,
            amount_captured=amount,
            amount_refunded=refunded,
            refunded=refunded >= amount,
            payment_intent=payment_intent,
            currency="gbp",
            captured=True,
            livemode=False,
        )
        return obj

    def dispute(self, charge: dict[str, Any], status: str = "needs_response") -> dict[str, Any]:
        """A dispute of ``charge`` as it stands in ``status``."""
        obj: dict[str, Any] = copy.deepcopy(self.fixtures["dispute"])
        obj.update(
            id="dp_" + secrets.token_hex(12),
            charge=charge["id"],
            amount=charge["amount"],
            payment_intent=charge["payment_intent"],
            currency=charge["currency"],
            status=status,
            livemode=False,
        )
        return obj

    def event(
        self, type_: str, obj: dict[str, Any], *, created: int | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """An event shaped like Stripe's, remembered for ``GET /v1/events``."""
        event: dict[str, Any] = copy.deepcopy(self.fixtures["event"])
        event.update(
            id="evt_" + secrets.token_hex(12),
            type=type_,
            livemode=livemode,
            created=created or int(time.time()),
            api_version="2026-10-28.endive",
            data={"object": copy.deepcopy(obj)},
        )
        with self.lock:
            self.events.append(event)
        return event

    # -- HTTP ----------------------------------------------------------------

    def dispatch(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return self.create_session(params)
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            return self.retrieve_session(path.rsplit("/", 1)[1])
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return self.create_portal(params)
        if method == "GET" and path == "/v1/events":
            return self.list_events(params)
        if method == "GET" and path == "/v1/invoice_payments":
            return self.list_invoice_payments(params)
        if method == "GET" and path == "/v1/account":
            refuse_unknown(params, {"expand"}, "")
            return self.account
        raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")


def sign(payload: str, secret: str, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, Stripe's v1 scheme."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(
            self, status: int, body: dict[str, Any], kind: str = "application/json"
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(7))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            if method == "GET" and parts.path.startswith(("/c/pay/", "/p/session/")):
                page = b"<!doctype html><title>Fake Stripe Checkout</title><h1>Checkout</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else parts.query
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer sk_test_") or len(auth) < 20:
                key = auth.removeprefix("Bearer ")[:12]
                self._answer(401, StripeFailure(401, f"Invalid API Key provided: {key}***").body)
                return
            with fake.lock:
                down = fake.outages.get(parts.path, 0)
                if down:
                    fake.outages[parts.path] = down - 1
            if down:
                failure = StripeFailure(500, "An unknown error occurred", type="api_error")
                failure.body["error"]["type"] = "api_error"
                self._answer(500, failure.body)
                return
            try:
                params = decode_form(parse_qsl(raw, keep_blank_values=True))
                fake.requests.append((method, parts.path, params))
                key = (self.headers.get("Idempotency-Key") or "") if method == "POST" else ""
                with fake.lock:
                    if key and key in fake.idempotency:
                        seen, status, body = fake.idempotency[key]
                        if seen != f"{parts.path}?{raw}":
                            failure = StripeFailure(
                                400,
                                "Keys for idempotent requests can only "
                                "be used with the same parameters they were first used with.",
                                type="idempotency_error",
                            )
                            failure.body["error"]["type"] = "idempotency_error"
                            raise failure
                        self._answer(status, body)
                        return
                    try:
                        body, status = fake.dispatch(method, parts.path, params), 200
                    except StripeFailure as exc:
                        body, status = exc.body, exc.status
                    if key:
                        fake.idempotency[key] = (f"{parts.path}?{raw}", status, body)
                self._answer(status, body)
            except StripeFailure as exc:
                self._answer(exc.status, exc.body)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


def _payment_filter(payment: Any) -> str | None:
    """``payment[type]`` and ``payment[payment_intent]`` as Stripe checks them: the type
    is required, and only payment intents are what this fake records."""
    if payment is None:
        return None
    if not isinstance(payment, dict):
        raise invalid("Invalid object", "payment")
    refuse_unknown(payment, {"type", "payment_intent", "payment_record"}, "payment")
    kind = payment.get("type")
    if kind is None:
        raise invalid(
            "Missing required param: payment[type].", "payment[type]", "parameter_missing"
        )
    if kind not in ("payment_intent", "payment_record"):
        raise invalid(
            "Invalid payment[type]: must be one of payment_intent or payment_record",
            "payment[type]",
        )
    if kind == "payment_record":
        return ""  # matches nothing: this fake records payment intents only
    found = payment.get("payment_intent")
    return found if isinstance(found, str) else None
