"""A deterministic, realistic touchpoint generator: Segment-style events from simulated customers.

Used for the example data, tests and the load generator. No I/O except :func:`write_jsonl`; the same
arguments always give byte-identical output (a small splitmix64 generator seeded by hashing, never
Python's ``hash`` or the wall clock).

Design: every customer is a *persona* script (a Python generator yielding ``(time, event)`` in time
order) over a tiny per-customer state; a heap keyed by each customer's next event time merges them, and
customers are started lazily when their arrival time comes, so millions of events need memory only for
the customers active at a time. Personas are assigned round-robin (customer ``i`` gets persona
``i % 11``; ``i // 11`` picks the persona's sub-behaviour), so any 11+ customers exercise every
example journey in ``topologies/journeys``:

======================  ============================================================================
persona                 what it does (and which journey paths it drives)
======================  ============================================================================
window_shopper          anonymous web browsing; some add to cart and leave (abandoned_cart without an
                        address: ``no_address``), some empty the cart (``exit_on``)
signup_returner         anonymous visit, sign-up, back within 3 days, buys within the hour, reviews
signup_ghost            signs up and is not back for 3+ days (welcome reminder: push at night is
                        deferred by quiet hours, email otherwise)
cart_abandoner          known customer leaves a cart: never back / buys later (conversion: half the
                        same day, half 1-3 days on, after the VIP split, in either arm) / empties it
                        (exit); VIPs reach the coupon split
quick_buyer             checks out within the hour; reviews; buys again later (win-back restarts)
app_reviewer            app customer with a push token: orders, reviews, cross-sell pushes
lapsed                  orders, then nothing for 30+ days; most come back after the win-back email
store_regular           identified at the till (POS): in-store orders, sometimes a review
b2b_lead                web form, then CRM identifies with a rising ``lead_score`` (most cross 80) and
                        ``lead_stage_changed``; opens and clicks newsletters
newsletter_reader       email engagement (opens/clicks with ``delivery_id``); unsubscribes from email
                        or push, then leaves a cart (``no_consent``)
eager_first_order       signs up at breakfast, buys something cheap, is back 3 days later just after
                        the review request and leaves a cart: the third email in a day is capped
======================  ============================================================================

The example file ``schemas/examples/touchpoints.jsonl`` was made once with::

    write_jsonl(path, generate_events(customers=40, seed=7, start=parse_ts("2026-03-02T08:00:00Z"),
                                      duration=45 * 86400))

and then three harmless lines (a page view and product views) were deliberately broken by a one-off
script, so the simulator has bad input to report by line number and skip: line 52 is not JSON (cut off
mid-object), line 149 has no ``messageId`` and line 251 has the unparsable timestamp
``"2026-03-19 at noon"``. ``tests/test_generator.py`` checks exactly these three and that every other
line is still what the generator produces (regenerate the file and re-break them if it changes).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

Ev = tuple[float, dict[str, Any]]
Script = Iterator[Ev]

_MASK = (1 << 64) - 1
_DAY = 86400.0
_HOUR = 3600.0

#: In rate mode customers keep arriving: ``customers`` new ones per this much simulated time.
RATE_MODE_SPAN = 30 * _DAY
#: In realistic mode customers arrive during this share of ``duration`` (the rest lets them age).
ARRIVAL_SHARE = 0.5
#: Most customers one stream may have: every customer due by the next event is started first, so
#: 10**20 of them (``generate --customers``) never produced an event and grew memory without bound;
#: 10**8 give the first 100 events at --rate 100 in ~1.3 s, 10**9 in ~4.5 s.
MAX_CUSTOMERS = 100_000_000


class _Rng:
    """splitmix64: one int of state, deterministic everywhere (``random.Random`` keeps ~2.5 KB)."""

    __slots__ = ("s",)

    def __init__(self, *parts: object) -> None:
        digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
        self.s = int.from_bytes(digest, "big")

    def next64(self) -> int:
        self.s = (self.s + 0x9E3779B97F4A7C15) & _MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self.next64() >> 11) / 9007199254740992.0

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def randint(self, a: int, b: int) -> int:
        return a + self.next64() % (b - a + 1)

    def chance(self, p: float) -> bool:
        return self.random() < p

    def choice(self, seq: tuple[Any, ...]) -> Any:
        return seq[self.next64() % len(seq)]

    def weighted(self, table: tuple[tuple[Any, int], ...]) -> Any:
        x = self.next64() % sum(w for _, w in table)
        for value, w in table:
            if x < w:
                return value
            x -= w
        return table[-1][0]

    def hex(self, n: int) -> str:
        return "".join(f"{self.next64():016x}" for _ in range((n + 15) // 16))[:n]


# ------------------------------------------------------------------------------------------ catalog
#: (product_id, name, category, price)
_PRODUCTS: tuple[tuple[str, str, str, float], ...] = (
    ("sku-1001", "Trail Running Shoes", "shoes", 89.0),
    ("sku-1002", "Merino Base Layer", "apparel", 59.0),
    ("sku-1003", "Insulated Water Bottle", "accessories", 24.0),
    ("sku-1004", "Rain Shell Jacket", "apparel", 149.0),
    ("sku-1006", "Trekking Poles", "gear", 79.0),
    ("sku-1007", "Headlamp 400lm", "gear", 39.0),
    ("sku-1009", "Daypack 22L", "bags", 69.0),
)
_CHEAP: tuple[tuple[str, str, str, float], ...] = (
    ("sku-1005", "Running Socks (3-pack)", "accessories", 14.0),
    ("sku-1008", "Sun Cap", "accessories", 9.0),
)
_STORES = ("store-berlin-mitte", "store-nyc-soho", "store-tokyo-shibuya", "store-london-covent")
_ZONES: tuple[tuple[str, int], ...] = (("Europe/Berlin", 35), ("America/New_York", 30), ("Asia/Tokyo", 15),
                                       ("UTC", 20))
_CURRENCY = {"Europe/Berlin": "EUR", "America/New_York": "USD", "Asia/Tokyo": "JPY", "UTC": "GBP"}
_PRICE_FACTOR = {"EUR": 1.0, "USD": 1.1, "JPY": 160.0, "GBP": 0.85}
_PHONE = {"Europe/Berlin": "+49151", "America/New_York": "+1212", "Asia/Tokyo": "+8190", "UTC": "+447700"}
_FIRST = ("Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Kate", "Leon",
          "Mia", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yuki")
_LAST = ("Schmidt", "Miller", "Tanaka", "Garcia", "Novak", "Becker", "Smith", "Kim", "Rossi", "Jensen",
         "Weber", "Brown", "Sato", "Lopez", "Fischer", "Clark")
_COMPANIES = ("Northwind GmbH", "Globex Corp", "Initech", "Umbrella Logistics", "Hooli", "Stark Retail",
              "Wayne Outfitters", "Tyrell Systems")
_TITLES = ("Head of CRM", "Marketing Ops Lead", "VP E-commerce", "Data Engineer", "CTO")
_WEB_PAGES = (("/", "Home"), ("/new", "New arrivals"), ("/sale", "Sale"), ("/c/shoes", "Shoes"),
              ("/c/gear", "Gear"), ("/stores", "Stores"))
_APP_SCREENS = ("Home", "Search", "Category", "Wishlist", "Account")
#: Local hours people are active, weighted (evenings busiest).
_HOURS: tuple[tuple[int, int], ...] = (
    (7, 1), (8, 2), (9, 2), (10, 2), (11, 2), (12, 3), (13, 3), (14, 2), (15, 2), (16, 2), (17, 3), (18, 4),
    (19, 5), (20, 6), (21, 5), (22, 4), (23, 2))


# ------------------------------------------------------------------------------------------ customer
class _Customer:
    """The small state one persona script works on: identity, locale, a clock cursor and the cart."""

    __slots__ = ("idx", "k", "rng", "anon", "user", "tz", "zone", "app", "known", "t", "first", "last",
                 "currency", "cart", "orders", "os")

    def __init__(self, seed: int, idx: int, arrival: float, personas: int) -> None:
        self.idx = idx
        self.k = idx // personas  # which occurrence of its persona this customer is
        self.rng = rng = _Rng("cjo-gen", seed, idx)
        self.anon = f"{rng.hex(8)}-{rng.hex(4)}-4{rng.hex(3)}-a{rng.hex(3)}-{rng.hex(12)}"
        self.user = f"u-{seed}-{idx:05d}"
        self.tz: str = rng.weighted(_ZONES)
        self.zone = ZoneInfo(self.tz)
        self.app = False
        self.known = False
        self.t = arrival
        self.first: str = rng.choice(_FIRST)
        self.last: str = rng.choice(_LAST)
        self.currency = _CURRENCY[self.tz]
        self.cart: list[tuple[tuple[str, str, str, float], int]] = []
        self.orders = 0
        self.os: str = rng.choice(("ios", "android"))
        self.visit(0.0, 1.0)  # first seen at a plausible local time of day

    # ------------------------------------------------------------------ time
    def wait(self, lo: float, hi: float) -> None:
        """Advance the clock by a random number of seconds in ``[lo, hi]``."""
        self.t += self.rng.uniform(lo, hi)

    def local(self, days: int, hour: int, minute: int) -> float:
        """Epoch time of ``hour:minute`` local time, ``days`` local days after the current one."""
        base = datetime.fromtimestamp(self.t, self.zone).replace(tzinfo=None)
        day = (base + timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        return day.replace(tzinfo=self.zone).timestamp()

    def visit(self, lo_days: float, hi_days: float, hours: tuple[tuple[int, int], ...] = _HOURS) -> None:
        """Jump to a plausible local time of day between ``lo_days`` and ``hi_days`` from now."""
        lo, hi = self.t + lo_days * _DAY, self.t + hi_days * _DAY
        target = self.rng.uniform(lo, hi)
        days = (datetime.fromtimestamp(target, self.zone).date()
                - datetime.fromtimestamp(self.t, self.zone).date()).days
        at = self.local(days, self.rng.weighted(hours), self.rng.randint(0, 59)) + self.rng.uniform(0, 59)
        if at < lo:
            at += _DAY
        if at > hi:
            at -= _DAY
        self.t = max(self.t + 60.0, min(max(at, lo), hi))

    def at_local(self, days: int, hour: int, minute_lo: int, minute_hi: int) -> None:
        self.t = max(self.t + 1.0, self.local(days, hour, self.rng.randint(minute_lo, minute_hi))
                     + self.rng.uniform(0, 59))

    # ------------------------------------------------------------------ events
    @property
    def channel(self) -> str:
        return "app" if self.app else "web"

    def ev(self, type_: str, name: str | None, channel: str, props: dict[str, Any] | None = None,
           traits: dict[str, Any] | None = None, *, previous_id: str | None = None,
           label: str | None = None) -> Ev:
        body: dict[str, Any] = {"type": type_}
        if name is not None:
            body["event"] = name
        if label is not None:
            body["name"] = label  # Segment's page/screen name (the event's properties.name)
        if self.known:
            body["userId"] = self.user
        if not self.known or channel in ("web", "app"):
            body["anonymousId"] = self.anon
        if previous_id is not None:
            body["previousId"] = previous_id
        if props is not None:
            body["properties"] = props
        if traits is not None:
            body["traits"] = traits
        ctx: dict[str, Any] = {"channel": channel}
        if channel in ("web", "app", "pos"):
            ctx["timezone"] = self.tz
        if channel == "app":
            ctx["app"] = {"name": "Acme Outdoor", "version": "4.12.0"}
            ctx["device"] = {"type": self.os}
        body["context"] = ctx
        return (self.t, body)

    def track(self, name: str, props: dict[str, Any] | None = None, channel: str | None = None) -> Ev:
        return self.ev("track", name, channel or self.channel, props if props is not None else {})

    def session(self) -> Iterator[Ev]:
        """Start of a visit: ``session_started`` (+ ``app_opened`` in the app) and a landing page/screen."""
        yield self.track("session_started", {"session_id": self.rng.hex(12)})
        if self.app:
            self.wait(0.2, 2)
            yield self.track("app_opened", {"from_background": self.rng.chance(0.3)})
            self.wait(2, 20)
            screen = self.rng.choice(_APP_SCREENS)
            yield self.ev("screen", None, "app", {"screen_class": f"{screen}ViewController"}, label=screen)
        else:
            self.wait(0.5, 5)
            path, title = self.rng.choice(_WEB_PAGES)
            yield self.ev("page", None, "web", {"path": path, "url": f"https://shop.example.com{path}",
                                                "title": f"{title} | Acme Outdoor"}, label=title)

    def price(self, p: tuple[str, str, str, float]) -> float:
        return round(p[3] * _PRICE_FACTOR[self.currency], 0 if self.currency == "JPY" else 2)

    def product(self, p: tuple[str, str, str, float]) -> dict[str, Any]:
        return {"product_id": p[0], "product_name": p[1], "category": p[2], "price": self.price(p),
                "currency": self.currency}

    def cart_value(self) -> float:
        return round(sum(self.price(p) * q for p, q in self.cart), 2)

    def view(self, p: tuple[str, str, str, float]) -> Iterator[Ev]:
        self.wait(20, 150)
        yield self.track("product_viewed", self.product(p))

    def add(self, p: tuple[str, str, str, float], qty: int = 1) -> Iterator[Ev]:
        self.wait(15, 120)
        self.cart.append((p, qty))
        yield self.track("cart_item_added", {**self.product(p), "quantity": qty, "cart_value": self.cart_value()})

    def shop(self, n: int = 1, cheap: bool = False) -> Iterator[Ev]:
        """View and add ``n`` products to the cart."""
        for _ in range(n):
            p = self.rng.choice(_CHEAP if cheap else _PRODUCTS)
            yield from self.view(p)
            yield from self.add(p, 1 if cheap or self.rng.chance(0.8) else 2)

    def empty_cart(self) -> Ev:
        value = self.cart_value()
        self.cart.clear()
        return self.track("cart_emptied", {"cart_value": value, "currency": self.currency})

    def checkout(self, within: float = 40 * 60, channel: str | None = None) -> Iterator[Ev]:
        """``checkout_started`` some minutes after the last event, then ``order_completed``."""
        self.wait(120, within)
        yield self.track("checkout_started", {"cart_value": self.cart_value(), "currency": self.currency,
                                              "item_count": sum(q for _, q in self.cart)}, channel)
        self.wait(60, 360)
        yield self.order(channel)

    def order(self, channel: str | None = None) -> Ev:
        self.orders += 1
        products = [{"product_id": p[0], "name": p[1], "category": p[2], "price": self.price(p), "quantity": q}
                    for p, q in self.cart]
        props: dict[str, Any] = {"order_id": f"o-{self.user}-{self.orders}", "revenue": self.cart_value(),
                                 "currency": self.currency, "products": products}
        if channel == "pos":
            props["store_id"] = _STORES[self.idx % len(_STORES)]
            props["payment"] = self.rng.choice(("card", "cash", "mobile"))
        self.cart.clear()
        return self.track("order_completed", props, channel)

    def review(self, order: int | None = None) -> Ev:
        n = order or self.orders
        return self.track("review_submitted", {"order_id": f"o-{self.user}-{n}",
                                               "rating": self.rng.weighted(((5, 5), (4, 3), (3, 1), (2, 1)))})

    def profile_traits(self, *, app: bool | None = None) -> dict[str, Any]:
        app = self.app if app is None else app
        traits: dict[str, Any] = {
            "email": f"{self.first}.{self.last}{self.idx}@example.com".lower(),
            "first_name": self.first, "last_name": self.last, "timezone": self.tz,
        }
        if self.rng.chance(0.5):
            traits["phone"] = f"{_PHONE[self.tz]}{self.rng.randint(1000000, 9999999)}"
        if app:
            traits["push_token"] = f"{'apns' if self.os == 'ios' else 'fcm'}:{self.rng.hex(32)}"
        return traits

    def identify(self, traits: dict[str, Any], channel: str | None = None, *, alias: bool = False) -> Iterator[Ev]:
        """The customer becomes known: ``identify`` with both ids, or ``alias`` + ``identify``."""
        ch = channel or self.channel
        self.wait(5, 90)
        if alias and not self.known:
            self.known = True
            yield self.ev("alias", None, ch, previous_id=self.anon)
            self.wait(0.1, 1)
        self.known = True
        yield self.ev("identify", None, ch, traits=traits)

    def sign_up(self, traits: dict[str, Any], alias: bool = False) -> Iterator[Ev]:
        self.wait(30, 240)
        yield from self.identify(traits, alias=alias)
        self.wait(0.1, 1)
        yield self.track("signed_up", {"method": self.rng.choice(("email", "google", "apple"))})

    def email_engagement(self, click: float = 0.5) -> Iterator[Ev]:
        """A newsletter open (and maybe a click) as the email service reports it."""
        props = {"delivery_id": self.rng.hex(24), "campaign": self.rng.choice(
            ("newsletter-weekly", "spring-collection", "trail-guide", "b2b-webinar"))}
        yield self.track("message_opened", props, "email")
        if self.rng.chance(click):
            self.wait(5, 300)
            yield self.track("message_clicked", {**props, "url": "https://shop.example.com/new"}, "email")


# ------------------------------------------------------------------------------------------ personas
def _window_shopper(c: _Customer) -> Script:
    yield from c.session()
    yield from c.view(c.rng.choice(_PRODUCTS))
    if c.k % 2 == 1:
        return
    c.visit(1, 6)
    yield from c.session()
    yield from c.shop()
    if c.k % 4 == 2:
        c.wait(600, 2400)
        yield c.empty_cart()


def _signup_returner(c: _Customer) -> Script:
    c.app = c.k % 2 == 1
    yield from c.session()
    yield from c.view(c.rng.choice(_PRODUCTS))
    yield from c.sign_up(c.profile_traits(), alias=c.app)
    c.visit(0.3, 2.5)
    yield from c.session()
    yield from c.shop(c.rng.randint(1, 2))
    yield from c.checkout()
    if c.k % 3 != 2:
        c.visit(3.5, 7)
        yield c.review()
    if c.rng.chance(0.5):
        c.visit(5, 15)
        yield from c.session()
        yield from c.view(c.rng.choice(_PRODUCTS))


def _signup_ghost(c: _Customer) -> Script:
    night = c.k % 2 == 0
    c.app = night
    if night:  # signs up late in the evening: the push reminder 3 days later falls into quiet hours
        c.at_local(0, c.rng.choice((21, 22, 23)), 0, 40)
    yield from c.session()
    yield from c.sign_up(c.profile_traits(), alias=c.rng.chance(0.5))
    if c.k % 3 == 1:
        return  # never comes back
    c.visit(4, 12)
    yield from c.session()
    yield from c.view(c.rng.choice(_PRODUCTS))


def _cart_abandoner(c: _Customer) -> Script:
    outcome = c.k % 4
    c.app = outcome in (0, 3)
    traits = c.profile_traits()
    if outcome in (0, 1, 3) or c.rng.chance(0.3):
        traits["vip"] = True
    yield from c.session()
    yield from c.identify(traits)  # logs in
    yield from c.shop(c.rng.randint(1, 2))
    if outcome == 2:
        c.wait(600, 3000)
        yield c.empty_cart()
    elif outcome == 1:  # back after the reminder and buys: half the same day, half days later
        if c.rng.chance(0.5):
            c.wait(3 * _HOUR, 20 * _HOUR)
        else:  # after the VIP offer (a day after the reminder), so its A/B arm converts
            c.visit(1.2, 2.9)
        yield from c.session()
        yield from c.checkout()
    c.visit(5, 15)
    yield from c.session()
    yield from c.view(c.rng.choice(_PRODUCTS))


def _quick_buyer(c: _Customer) -> Script:
    c.app = c.rng.chance(0.3)
    yield from c.session()
    yield from c.identify(c.profile_traits())
    yield from c.shop(c.rng.randint(1, 3))
    yield from c.checkout()
    if c.rng.chance(0.6):
        c.visit(3.2, 8)
        yield c.review()
    if c.k % 2 == 0:
        c.visit(9, 20)
        yield from c.session()
        yield from c.shop()
        yield from c.checkout(20 * 60)


def _app_reviewer(c: _Customer) -> Script:
    c.app = True
    yield from c.session()
    yield from c.identify(c.profile_traits(), alias=True)
    c.wait(1, 5)
    yield c.track("subscribed", {"channel": "push"})
    for n in range(c.rng.randint(1, 2)):
        if n:
            c.visit(7, 16)
            yield from c.session()
        yield from c.shop(c.rng.randint(1, 2))
        yield from c.checkout()
        if c.rng.chance(0.5) or n == 0 and c.k % 2 == 0:
            c.visit(4.5, 6.5)
            yield c.review()


def _lapsed(c: _Customer) -> Script:
    c.app = c.rng.chance(0.3)
    yield from c.session()
    yield from c.identify(c.profile_traits())
    yield from c.shop()
    yield from c.checkout()
    last_order = c.t
    if c.rng.chance(0.5):
        c.visit(1, 5)
        yield from c.session()
        yield from c.view(c.rng.choice(_PRODUCTS))
    if c.k % 4 == 3:
        return  # gone for good
    c.t = last_order
    c.visit(31, 36)  # the win-back email went out 30 days after the order
    yield from c.session()
    yield from c.shop()
    yield from c.checkout()


def _store_regular(c: _Customer) -> Script:
    c.known = True
    c.wait(60, 600)
    traits = c.profile_traits()
    traits["loyalty_id"] = f"L{c.rng.randint(100000, 999999)}"
    yield from c.identify(traits, "pos")  # loyalty sign-up at the till
    for n in range(c.rng.randint(2, 3)):
        if n:
            c.visit(6, 18, ((10, 1), (11, 2), (12, 2), (13, 2), (15, 1), (16, 2), (17, 3), (18, 3), (19, 1)))
        c.wait(60, 240)
        c.cart = [(c.rng.choice(_PRODUCTS + _CHEAP), 1) for _ in range(c.rng.randint(1, 3))]
        yield c.order("pos")
        if n == 0 and c.k % 2 == 0:
            c.visit(4, 7)
            yield c.review()


def _b2b_lead(c: _Customer) -> Script:
    crosses = c.k % 3 != 2
    yield c.ev("page", None, "web", {"path": "/business", "url": "https://shop.example.com/business",
                                     "title": "Acme for Business"}, label="Business")
    c.wait(30, 200)
    yield c.ev("page", None, "web", {"path": "/business/pricing", "url": "https://shop.example.com/business/pricing",
                                     "title": "Business pricing"}, label="Business pricing")
    traits = c.profile_traits(app=False)
    company = _COMPANIES[c.idx % len(_COMPANIES)]
    traits.update(email=f"{c.first}.{c.last}@{company.split()[0]}.example".lower(), company=company,
                  title=c.rng.choice(_TITLES))
    c.wait(60, 400)
    yield from c.identify(traits)
    c.wait(60, 300)
    yield c.track("demo_requested", {"form": "business-contact", "team_size": c.rng.choice(("1-10", "11-50", "51-200"))})
    score = c.rng.randint(25, 45)
    stage = "lead"
    c.wait(1800, 4 * _HOUR)
    yield c.ev("identify", None, "crm", traits={"company": company, "lead_score": score, "lead_stage": stage})
    while True:
        c.visit(1.5, 5)
        yield from c.email_engagement(0.6)
        c.wait(2 * _HOUR, 20 * _HOUR)
        score = min(score + c.rng.randint(12, 24), 100)
        if not crosses:
            score = min(score, 78)
        new_stage = "mql" if score >= 50 else "lead"
        yield c.ev("identify", None, "crm", traits={"lead_score": score, "lead_stage": new_stage})
        if new_stage != stage:
            c.wait(1, 30)
            yield c.track("lead_stage_changed", {"from": stage, "to": new_stage, "lead_score": score}, "crm")
            stage = new_stage
        if score >= 80 or (not crosses and score >= 78):
            break
    if not crosses:
        return
    c.wait(2 * _HOUR, 26 * _HOUR)  # sales accepts the lead in the CRM
    yield c.ev("identify", None, "crm", traits={"lead_stage": "sql"})
    c.wait(1, 30)
    yield c.track("lead_stage_changed", {"from": stage, "to": "sql", "lead_score": score}, "crm")
    c.visit(3, 8)
    yield c.ev("identify", None, "crm", traits={"lead_score": min(score + 6, 100), "lead_stage": "sql"})


def _newsletter_reader(c: _Customer) -> Script:
    c.app = c.k % 2 == 1
    c.known = True
    traits = c.profile_traits()
    traits["vip"] = True
    if c.rng.chance(0.5) or c.app:
        traits["consent.sms"] = False
    c.wait(60, 3600)
    yield from c.identify(traits, "crm")  # imported from the CRM with the newsletter list
    for _ in range(c.rng.randint(2, 3)):
        c.visit(1, 4)
        yield from c.email_engagement()
    c.wait(30, 600)
    if c.app:  # turned notifications off
        yield c.track("unsubscribed", {"channel": "push"}, "app")
    else:  # the unsubscribe link in a newsletter
        yield c.track("unsubscribed", {"channel": "email", "reason": "too_many_emails"}, "email")
    c.visit(2, 6)
    yield from c.session()
    yield from c.shop()
    if c.rng.chance(0.3):
        c.visit(3, 9)
        yield from c.session()
        yield c.track("subscribed", {"channel": "sms"})


def _eager_first_order(c: _Customer) -> Script:
    c.at_local(0 if c.local(0, 8, 0) > c.t else 1, 8, 0, 40)
    yield from c.session()
    yield from c.sign_up(c.profile_traits())  # welcome email (1st email today)
    yield from c.shop(cheap=True)  # under 20: not an abandoned-cart candidate
    yield from c.checkout(15 * 60)
    # Not back for 3 days: the welcome reminder goes out at sign-up time + 3d, the review request at 10:00;
    # just after that they come back and leave a cart, so the cart reminder is the 3rd email in 24h.
    c.at_local(3, 10, 35, 59)
    yield from c.session()
    yield from c.shop()
    if c.k % 2 == 0:
        c.wait(3 * _HOUR, 20 * _HOUR)  # buys the next morning (abandoned_cart conversion)
        yield from c.session()
        yield from c.checkout()


_PERSONAS: tuple[Callable[[_Customer], Script], ...] = (
    _window_shopper, _signup_returner, _signup_ghost, _cart_abandoner, _quick_buyer, _app_reviewer, _lapsed,
    _store_regular, _b2b_lead, _newsletter_reader, _eager_first_order,
)
PERSONAS: tuple[str, ...] = tuple(p.__name__.lstrip("_") for p in _PERSONAS)


# ------------------------------------------------------------------------------------------ driver
def _format_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def event_names() -> set[str]:
    """The names (as journeys see them: ``page`` is ``page_viewed``) of the events the generator makes: those
    of 220 customers over 60 days, every persona's every sub-behaviour (deterministic, ~0.1 s). The demo
    tells a journey waiting for another name, which its traffic never starts (a walkthrough ran its own
    journeys in ``make demo``: 0 delivery commands, and nothing said why)."""
    from cjo_stream.events import decode_event

    return {decode_event(orjson.dumps(e)).name
            for e in generate_events(customers=220, seed=1, start=1772438400.0, duration=60 * 86400)}


def generate_events(*, customers: int, seed: int, start: float, duration: float,
                    rate: float | None = None, seen: set[int] | None = None) -> Iterator[dict[str, Any]]:
    """The events of :func:`_generate`; a ValueError at once (not at the first event) for arguments out
    of range. ``seen`` collects the customers (their numbers) that have had an event so far."""
    if customers > MAX_CUSTOMERS:
        raise ValueError(f"customers: at most {MAX_CUSTOMERS:,}")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    return _generate(customers=customers, seed=seed, start=start, duration=duration, rate=rate, seen=seen)


def _generate(*, customers: int, seed: int, start: float, duration: float,
              rate: float | None = None, seen: set[int] | None = None) -> Iterator[dict[str, Any]]:
    """Yield Segment-style touchpoint events in non-decreasing timestamp order.

    ``customers`` simulated customers arrive during the first half of ``[start, start + duration)``
    and act with realistic gaps (minutes to days); events after the window are cut off. With ``rate``
    (events per second) the same kind of stream is produced but event ``n`` is stamped
    ``start + n / rate``: customers keep arriving (``customers`` per 30 simulated days, ids never
    repeat) until ``duration * rate`` events were produced (``duration`` may be ``math.inf``).
    ``messageId`` is ``m-<seed>-<n>``: unique and stable for a seed.
    """
    if customers <= 0:
        return
    personas = len(_PERSONAS)
    span = RATE_MODE_SPAN if rate is not None else ARRIVAL_SHARE * duration
    gap = span / customers
    max_customers = customers if rate is None else None
    end_ms = math.inf if rate is not None else round((start + duration) * 1000)
    limit = math.inf if rate is None else duration * rate
    arrivals = _Rng("cjo-arrivals", seed)

    heap: list[tuple[int, int, dict[str, Any], Script]] = []
    next_idx = 0
    next_arrival = start + gap * arrivals.random()
    n = 0
    while n < limit:
        while (max_customers is None or next_idx < max_customers) and (
                not heap or round(next_arrival * 1000) <= heap[0][0]):
            if next_arrival * 1000 >= end_ms:
                max_customers = next_idx
                break
            cust = _Customer(seed, next_idx, next_arrival, personas)
            script = _PERSONAS[next_idx % personas](cust)
            first = next(script, None)
            if first is not None:
                heapq.heappush(heap, (max(round(first[0] * 1000), round(next_arrival * 1000)),
                                      next_idx, first[1], script))
            next_idx += 1
            next_arrival = start + gap * (next_idx + arrivals.random())
        if not heap:
            return
        ms, idx, body, script = heapq.heappop(heap)
        if ms >= end_ms:
            continue  # past the window: this customer is done
        stamp = _format_ms(ms) if rate is None else _format_ms(round((start + n / rate) * 1000))
        if seen is not None:
            seen.add(idx)
        yield {"messageId": f"m-{seed}-{n}", "timestamp": stamp, **body}
        n += 1
        following = next(script, None)
        if following is not None:
            heapq.heappush(heap, (max(ms, round(following[0] * 1000)), idx, following[1], script))


def write_jsonl(path: str | os.PathLike[str], events: Iterable[dict[str, Any]]) -> int:
    """Write events as JSON lines (orjson, one object per line); returns how many were written."""
    count = 0
    with open(path, "wb") as f:
        for event in events:
            f.write(orjson.dumps(event) + b"\n")
            count += 1
    return count
