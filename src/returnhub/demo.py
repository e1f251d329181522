"""Deterministic, realistic demo data for an apparel merchant.

``load_demo`` fills an empty database with customers, orders and returns that look like a real
store's: names and contact details, orders numbered by the time they were placed, fulfilments with
carrier tracking, and returns spread over every lifecycle state with timelines, labels and refunds
that agree with their dates. The same seed and the same ``now`` give the same rows, public ids
included.

Rows are written with SQLAlchemy Core bulk inserts, one write transaction per batch of customers
(with all their orders and returns), and integer primary keys assigned here: the tables are empty,
so children can name their parents without a round trip. Demo data writes no ``domain_events``:
those are facts for the outside world, and loading a demo must not tell anyone anything.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, TypeVar, cast

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Table, func, insert, select, text

from returnhub.domain.contact import PhoneType
from returnhub.domain.ids import Prefix, new_id, new_return_number
from returnhub.domain.lifecycle import ReturnAction, ReturnState, next_state
from returnhub.domain.policy import Outcome
from returnhub.store.db import Database
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    ExchangeItem,
    Fulfillment,
    Order,
    OrderLine,
    Return,
    ReturnItem,
    ReturnNote,
    TimelineEntry,
)

BATCH_CUSTOMERS = 5_000
FIRST_ORDER_NUMBER = 1001
MAX_ORDER_AGE_DAYS = 200.0
RETURN_SHARE = 0.25
STATUS_PAGE_URL = "https://returns.example.com/status/{number}"

Row = dict[str, Any]


T = TypeVar("T")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


class Weighted(Generic[T]):
    """A weighted choice with the cumulative weights computed once (``random.choices`` redoes
    them on every call, which shows up when it runs millions of times)."""

    def __init__(self, pairs: Sequence[tuple[T, int]]) -> None:
        self.items = tuple(item for item, _ in pairs)
        self.cumulative = tuple(accumulate(weight for _, weight in pairs))
        self.total = float(self.cumulative[-1])

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect(self.cumulative, rng.random() * self.total)]


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------

FIRST_NAMES = _words(
    "Aaliyah Aaron Abigail Adam Adrian Aiden Alejandro Alex Alexa Alexis Alice Alicia Amara Amelia "
    "Amir Amy Ana Andre Andrea Andrew Angela Anika Anna Anthony Aria Ariana Arjun Asher Ashley "
    "Aubrey Audrey Austin Ava Avery Bella Benjamin Bianca Blake Brandon Brianna Brooke Bryan "
    "Caleb Camila Cameron Carlos Caroline Carter Casey Charles Charlotte Chloe Chris Christian "
    "Claire Clara Cole Colin Connor Daniel David Dakota Delilah Derek Diana Diego Dominic Dylan "
    "Eleanor Elena Eli Elijah Elizabeth Ella Ellie Emily Emma Eric Erin Ethan Eva Evan Evelyn "
    "Ezra Fatima Felix Fiona Gabriel Gabriella Gavin Genesis Grace Hailey Hannah Harper Hazel "
    "Henry Hudson Hunter Ian Imani Isaac Isabella Isaiah Ivy Jack Jackson Jacob Jade James Jasmine "
    "Jason Javier Jayden Jenna Jennifer Jeremy Jessica Joanna Jonah Jordan Jose Joseph Joshua "
    "Josiah Julia Julian Justin Kai Kayla Keira Kevin Kiara Kimberly Kyle Laila Landon Laura "
    "Lauren Layla Leah Leo Liam Lila Lily Lincoln Logan Lucas Lucia Luis Luke Luna Madeline "
    "Madison Malik Maria Marcus Mariana Mason Mateo Matthew Maya Megan Mia Micah Michael Miguel "
    "Mila Miles Naomi Natalie Nathan Nia Nicholas Noah Nora Olivia Omar Owen Paige Parker Priya "
    "Quinn Rachel Rafael Riley Rohan Ruby Ryan Samantha Samuel Sara Savannah Sebastian Sienna "
    "Simone Sofia Sophia Stella Summer Taylor Thomas Tristan Tyler Valentina Victor Victoria "
    "Violet Wesley William Wyatt Xavier Yara Yusuf Zachary Zara Zoe"
)

LAST_NAMES = _words(
    "Adams Ahmed Alexander Ali Allen Alvarez Anderson Bailey Baker Banks Barnes Bell Bennett "
    "Brooks Brown Bryant Butler Campbell Carter Castillo Chan Chang Chavez Chen Clark Coleman "
    "Collins Cook Cooper Cox Cruz Davis Diaz Dubois Edwards Evans Fischer Fisher Flores Ford "
    "Foster Garcia Gomez Gonzalez Gordon Graham Gray Green Griffin Gupta Hall Hamilton Harris "
    "Hayes Henderson Hernandez Hill Holmes Howard Hughes Hunt Jackson James Jenkins Jimenez "
    "Johnson Jones Jordan Kaur Kelly Kennedy Khan Kim King Kowalski Kumar Lee Lewis Lin Long "
    "Lopez Martin Martinez Mason Mendoza Meyer Miller Mitchell Moore Morales Morgan Morris Murphy "
    "Murray Myers Nakamura Nelson Nguyen Novak Okafor Oliver Olsen Ortiz Owens Park Parker Patel "
    "Perez Perry Peterson Phillips Powell Price Ramirez Ramos Reed Reyes Reynolds Richardson "
    "Rivera Roberts Robinson Rodriguez Rogers Romero Ross Russell Sanchez Sanders Santos Schmidt "
    "Scott Shah Shaw Silva Simmons Singh Smith Stewart Sullivan Tanaka Taylor Thomas Thompson "
    "Torres Tran Turner Vasquez Walker Wallace Wang Ward Washington Watson Webb Weber White "
    "Williams Wilson Wong Wood Wright Wu Yamamoto Yang Young Zhang"
)

EMAIL_DOMAINS = Weighted((("example.com", 50), ("example.net", 30), ("example.org", 20)))
ORDERS_PER_CUSTOMER = Weighted(((1, 50), (2, 32), (3, 18)))
LINES_PER_ORDER = Weighted(((1, 45), (2, 30), (3, 17), (4, 8)))
ITEMS_PER_RETURN = Weighted(((1, 70), (2, 22), (3, 8)))
NOTES_PER_RETURN = Weighted(((0, 85), (1, 12), (2, 3)))
FIRST_PHONE_TYPE = Weighted(((PhoneType.MOBILE, 92), (PhoneType.HOME, 5), (PhoneType.OFFICE, 3)))
SOURCE_SYSTEMS = Weighted((("returnhub", 85), ("loop", 10), ("returnlogic", 5)))

# Real US area codes; with an exchange 2xx-9xx (not N11, not 555) every number is valid.
AREA_CODES = (
    201, 202, 203, 205, 206, 207, 208, 210, 212, 213, 214, 215, 216, 217, 224, 225, 228, 231,
    234, 239, 240, 248, 251, 252, 253, 254, 256, 267, 269, 270, 281, 301, 302, 303, 304, 305,
    307, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 321, 323, 330, 334, 336, 347, 352,
    360, 361, 385, 401, 402, 404, 405, 406, 407, 408, 410, 412, 413, 414, 415, 417, 419, 423,
    424, 425, 430, 434, 435, 440, 443, 469, 470, 475, 480, 484, 501, 502, 503, 504, 505, 507,
    508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 540, 541, 551, 559, 561, 562, 563,
    570, 571, 573, 574, 585, 586, 601, 602, 603, 605, 606, 607, 608, 609, 610, 612, 614, 615,
    616, 617, 618, 619, 623, 626, 630, 631, 636, 646, 650, 651, 657, 661, 662, 669, 678, 682,
    701, 702, 703, 704, 706, 707, 708, 713, 714, 715, 716, 717, 718, 719, 720, 724, 727, 732,
    734, 737, 740, 747, 754, 757, 760, 763, 765, 770, 772, 773, 774, 775, 781, 786, 801, 802,
    803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816, 817, 818, 828, 831, 832, 843, 845,
    847, 848, 850, 856, 857, 858, 859, 860, 862, 863, 864, 865, 901, 903, 904, 907, 908, 909,
    910, 912, 913, 914, 915, 916, 917, 918, 919, 920, 925, 928, 929, 937, 940, 941, 949, 951,
    952, 954, 956, 970, 971, 972, 973, 978, 980, 984, 985, 989,
)  # fmt: skip
EXCHANGES = tuple(x for x in range(200, 1000) if x % 100 != 11 and x != 555)

COLORS = {
    "BLK": "Black",
    "NVY": "Navy",
    "WHT": "White",
    "HGR": "Heather Grey",
    "CHR": "Charcoal",
    "OLV": "Olive",
    "KHK": "Khaki",
    "CRM": "Cream",
    "RST": "Rust",
    "FOR": "Forest",
    "BRG": "Burgundy",
    "IND": "Indigo",
    "SND": "Sand",
    "BLU": "Sky Blue",
    "RED": "Red",
    "PNK": "Blush",
    "CAM": "Camel",
    "BRN": "Brown",
    "STN": "Stone",
    "LTW": "Light Wash",
    "DKW": "Dark Wash",
}

ALPHA = ("XS", "S", "M", "L", "XL", "XXL")
WAIST = ("28", "30", "32", "34", "36", "38")
SHOE = ("7", "8", "9", "10", "11", "12")
ONE_SIZE = ("OS",)


@dataclass(frozen=True)
class Product:
    sku_stem: str
    title: str
    price: int  # cents
    sizes: tuple[str, ...]
    colors: tuple[str, ...]


def _p(stem: str, title: str, price: int, sizes: tuple[str, ...], colors: str) -> Product:
    return Product(stem, title, price, sizes, tuple(colors.split()))


CATALOG: tuple[Product, ...] = (
    _p("JKT-RAIN", "Rain Jacket", 12800, ALPHA, "NVY BLK OLV RED"),
    _p("JKT-DOWN", "Down Puffer Jacket", 18900, ALPHA, "BLK NVY CAM FOR"),
    _p("JKT-DNM", "Denim Jacket", 9800, ALPHA, "LTW DKW BLK"),
    _p("JKT-BOMB", "Bomber Jacket", 13800, ALPHA, "OLV BLK NVY"),
    _p("JKT-SHRP", "Sherpa Fleece Jacket", 11800, ALPHA, "CRM BRN FOR"),
    _p("CT-WOOL", "Wool Overcoat", 18900, ALPHA, "CAM CHR BLK"),
    _p("VST-FLC", "Fleece Vest", 7400, ALPHA, "HGR NVY OLV"),
    _p("TEE-CREW", "Crew Neck Tee", 2900, ALPHA, "WHT BLK HGR NVY OLV RST"),
    _p("TEE-VNCK", "V-Neck Tee", 2900, ALPHA, "WHT BLK HGR NVY"),
    _p("TEE-PCKT", "Pocket Tee", 3400, ALPHA, "WHT SND OLV NVY"),
    _p("TEE-LS", "Long Sleeve Tee", 3900, ALPHA, "WHT BLK HGR BRG"),
    _p("HNL-WAFL", "Waffle Henley", 4800, ALPHA, "CRM CHR FOR RST"),
    _p("SWT-CREW", "Crewneck Sweatshirt", 5800, ALPHA, "HGR NVY BLK SND"),
    _p("HD-ZIP", "Zip Hoodie", 6800, ALPHA, "HGR BLK NVY OLV"),
    _p("HD-PULL", "Pullover Hoodie", 6400, ALPHA, "HGR BLK FOR BRG"),
    _p("SWR-MRNO", "Merino Crew Sweater", 8800, ALPHA, "NVY CHR CAM BRG"),
    _p("SWR-CBL", "Cable Knit Sweater", 9800, ALPHA, "CRM NVY FOR"),
    _p("CDG-SHWL", "Shawl Cardigan", 8800, ALPHA, "CHR CAM CRM"),
    _p("SHT-OXF", "Oxford Shirt", 6800, ALPHA, "WHT BLU PNK"),
    _p("SHT-FLN", "Flannel Shirt", 5800, ALPHA, "RED FOR NVY"),
    _p("SHT-LIN", "Linen Shirt", 7200, ALPHA, "WHT SND BLU"),
    _p("SHT-CHMB", "Chambray Shirt", 6200, ALPHA, "BLU IND"),
    _p("PLO-PIQ", "Pique Polo", 4900, ALPHA, "WHT NVY BLK FOR PNK"),
    _p("DRS-WRAP", "Wrap Dress", 8900, ALPHA, "BLK BRG FOR RST"),
    _p("DRS-SLIP", "Satin Slip Dress", 7800, ALPHA, "BLK CRM PNK"),
    _p("DRS-SHRT", "Shirt Dress", 8400, ALPHA, "SND BLU WHT"),
    _p("SKT-MIDI", "Pleated Midi Skirt", 6800, ALPHA, "BLK CAM OLV"),
    _p("PNT-CHNO", "Slim Chinos", 6900, WAIST, "KHK NVY OLV STN"),
    _p("JNS-SLIM", "Slim Jeans", 8900, WAIST, "DKW LTW BLK"),
    _p("JNS-STRT", "Straight Jeans", 8900, WAIST, "DKW LTW IND"),
    _p("JNS-WIDE", "Wide Leg Jeans", 9400, WAIST, "LTW DKW CRM"),
    _p("PNT-JOG", "Tech Joggers", 5400, ALPHA, "BLK CHR NVY"),
    _p("SHO-CHNO", "Chino Shorts", 4400, WAIST, "KHK NVY STN OLV"),
    _p("LEG-HIRS", "High-Rise Leggings", 5800, ALPHA, "BLK NVY FOR"),
    _p("BRA-SPRT", "Sports Bra", 3900, ALPHA, "BLK PNK NVY"),
    _p("SOK-MRNO", "Merino Socks 3-Pack", 2900, ("S", "M", "L"), "CHR NVY"),
    _p("HAT-BNIE", "Ribbed Beanie", 2900, ONE_SIZE, "BLK CHR RST FOR CRM"),
    _p("SCF-WOOL", "Wool Scarf", 4900, ONE_SIZE, "CAM CHR BRG"),
    _p("BLT-LTHR", "Leather Belt", 5900, ("S", "M", "L", "XL"), "BRN BLK"),
    _p("SNK-CNVS", "Canvas Sneakers", 7900, SHOE, "WHT BLK NVY"),
    _p("BOT-CHLS", "Chelsea Boots", 18900, SHOE, "BRN BLK"),
)
# Tees and hoodies sell more than overcoats.
SINGLE_PRODUCT = Weighted(
    [(p, 3 if p.price < 5000 else 2 if p.price < 10000 else 1) for p in CATALOG]
)

REASONS: dict[str, tuple[str, ...]] = {
    "Fit": ("Too small", "Too large", "Too long", "Too short", "Too tight", "Too loose"),
    "Quality": ("Damaged", "Defective", "Poor material quality", "Seam came apart"),
    "Style": ("Colour not as pictured", "Didn't like the style", "Looks different than online"),
    "Changed mind": ("No longer needed", "Ordered by mistake", "Found a better price"),
    "Shipping": ("Wrong item received", "Arrived too late", "Wrong size received"),
}
PARENT_REASONS = Weighted(list(zip(REASONS, (48, 14, 16, 17, 5), strict=True)))
FIT_OUTCOMES = Weighted(((Outcome.EXCHANGE, 55), (Outcome.REFUND, 35), (Outcome.STORE_CREDIT, 10)))
OTHER_OUTCOMES = Weighted(
    (
        (Outcome.REFUND, 65),
        (Outcome.STORE_CREDIT, 20),
        (Outcome.EXCHANGE, 10),
        (Outcome.GIFT_CARD, 5),
    )
)
DAMAGE_REASONS = frozenset({"Damaged", "Defective", "Seam came apart"})
SMALLER_FIT = frozenset({"Too small", "Too short", "Too tight"})
LARGER_FIT = frozenset({"Too large", "Too long", "Too loose"})

COMMENTS = (
    "Runs a size small.",
    "Runs big, especially in the shoulders.",
    "Sleeves are too long for me.",
    "The colour is darker than on the website.",
    "Small hole near the hem when it arrived.",
    "Zip broke on the second wear.",
    "Bought two sizes to try, keeping the other one.",
    "It was a gift and it didn't fit.",
    "Fabric is thinner than I expected.",
    "Received a medium instead of the large I ordered.",
)

NOTES = (
    "Customer called to confirm the prepaid label arrived.",
    "Offered an exchange; the customer preferred a refund.",
    "Photos of the damage are on the help desk ticket.",
    "Customer asked when the refund lands; told 5-7 business days after receipt.",
    "Warehouse confirmed the tags are still attached.",
    "Exception granted: two days past the window, loyal customer.",
    "Customer dropped the parcel at the warehouse in person.",
    "Replacement size is back in stock; exchange can ship.",
)
FLAG_MESSAGES = (
    "flag: quantity received differs from the return (expected 2, received 1)",
    "flag: item received shows signs of wear",
    "flag: tags removed from item",
    "flag: received item does not match the SKU on the return",
    "flag: carrier scan stopped for 10 days",
)
REJECT_MESSAGES = (
    "reject: item was worn and washed",
    "reject: outside the return window",
    "reject: final sale item",
)
CANCEL_MESSAGES = (
    "cancel: customer decided to keep the item",
    "cancel: customer opened a duplicate return",
    "cancel: customer requested it on chat",
)
EXPIRE_MESSAGES = ("expire: return label unused for 14 days",)

AGENTS = ("maya.chen", "dev.patel", "sam.ortiz", "lena.fischer", "jordan.lee", "ana.souza")
CARRIERS = Weighted((("UPS", 45), ("USPS", 40), ("FedEx", 15)))
CONDITIONS_UNDAMAGED = Weighted((("new", 85), ("used", 15)))

A = ReturnAction
S = ReturnState

# How many returns end in each state, and how long ago (days) such a return was requested.
STATE_WEIGHTS: dict[ReturnState, int] = {
    S.REQUESTED: 8,
    S.AUTHORIZED: 10,
    S.IN_TRANSIT: 10,
    S.RECEIVED: 8,
    S.FLAGGED: 4,
    S.PROCESSED: 14,
    S.CLOSED: 32,
    S.REJECTED: 4,
    S.CANCELLED: 6,
    S.EXPIRED: 4,
}
STATE_AGE_DAYS: dict[ReturnState, tuple[float, float]] = {
    S.REQUESTED: (0.05, 4.0),
    S.AUTHORIZED: (0.5, 10.0),
    S.IN_TRANSIT: (2.0, 12.0),
    S.RECEIVED: (4.0, 24.0),
    S.FLAGGED: (3.0, 40.0),
    S.PROCESSED: (6.0, 60.0),
    S.CLOSED: (15.0, 165.0),
    S.REJECTED: (1.0, 120.0),
    S.CANCELLED: (0.5, 120.0),
    S.EXPIRED: (20.0, 150.0),
}
# Typical days between the previous step and this one.
STEP_DAYS: dict[ReturnAction, tuple[float, float]] = {
    A.AUTHORIZE: (0.02, 1.0),
    A.SHIP: (0.5, 5.0),
    A.RECEIVE: (2.0, 6.0),
    A.FLAG: (0.05, 1.0),
    A.PROCESS: (0.2, 3.0),
    A.CLOSE: (1.0, 10.0),
    A.REJECT: (0.2, 3.0),
    A.CANCEL: (0.05, 4.0),
    A.EXPIRE: (14.0, 30.0),
}
MAIN = (A.AUTHORIZE, A.SHIP, A.RECEIVE)
# (weight, actions from requested) per final state.
PATHS: dict[ReturnState, tuple[tuple[int, tuple[ReturnAction, ...]], ...]] = {
    S.REQUESTED: ((1, ()),),
    S.AUTHORIZED: ((1, (A.AUTHORIZE,)),),
    S.IN_TRANSIT: ((1, (A.AUTHORIZE, A.SHIP)),),
    S.RECEIVED: ((9, MAIN), (1, (A.AUTHORIZE, A.RECEIVE))),
    S.FLAGGED: ((14, (*MAIN, A.FLAG)), (3, (A.FLAG,)), (3, (A.AUTHORIZE, A.SHIP, A.FLAG))),
    S.PROCESSED: ((17, (*MAIN, A.PROCESS)), (3, (*MAIN, A.FLAG, A.PROCESS))),
    S.CLOSED: (
        (85, (*MAIN, A.PROCESS, A.CLOSE)),
        (8, (*MAIN, A.FLAG, A.PROCESS, A.CLOSE)),
        (7, (A.REJECT, A.CLOSE)),
    ),
    S.REJECTED: ((7, (A.REJECT,)), (3, (*MAIN, A.FLAG, A.REJECT))),
    S.CANCELLED: ((6, (A.CANCEL,)), (4, (A.AUTHORIZE, A.CANCEL))),
    S.EXPIRED: ((8, (A.AUTHORIZE, A.EXPIRE)), (2, (A.EXPIRE,))),
}
PATH_CHOICE = {
    state: Weighted([(actions, weight) for weight, actions in options])
    for state, options in PATHS.items()
}
VOID_END_STATES = frozenset({S.REJECTED, S.CANCELLED, S.EXPIRED})
REFUND_METHOD = {
    Outcome.REFUND: "original_payment",
    Outcome.STORE_CREDIT: "store_credit",
    Outcome.GIFT_CARD: "gift_card",
}


def _check_paths() -> None:
    """Every demo path is legal in the real state machine (fails loudly at import otherwise)."""
    for state, options in PATHS.items():
        for _, actions in options:
            current = S.REQUESTED
            for action in actions:
                current = next_state(current, action)
            if current is not state:
                raise AssertionError(f"demo path {actions} ends in {current}, not {state}")


_check_paths()


# --------------------------------------------------------------------------------------------
# Public interface
# --------------------------------------------------------------------------------------------


class DatabaseNotEmpty(Exception):
    """The demo loads only into an empty ledger."""

    def __init__(self, customers: int) -> None:
        super().__init__(
            f"the database already has {customers:,} customers; "
            "demo data loads only into an empty database"
        )
        self.customers = customers


@dataclass(frozen=True)
class DemoSummary:
    customers: int
    orders: int
    returns: int
    seconds: float

    def describe(self) -> str:
        return (
            f"demo data loaded: {self.customers:,} customers, {self.orders:,} orders and "
            f"{self.returns:,} returns in {self.seconds:.1f}s"
        )


def load_demo(
    db: Database,
    *,
    customers: int,
    seed: int,
    console: Console | None = None,
    now: datetime | None = None,
) -> DemoSummary:
    """Fill an empty database with ``customers`` customers and their orders and returns."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = time.perf_counter()
    with db.read() as session:
        existing = session.scalar(select(func.count()).select_from(Customer.__table__)) or 0
    if existing:
        raise DatabaseNotEmpty(existing)

    generator = _Generator(random.Random(seed), now)
    plans = generator.plan(customers)
    with _progress(console, customers) as advance:
        for start in range(0, customers, BATCH_CUSTOMERS):
            chunk = plans[start : start + BATCH_CUSTOMERS]
            rows = generator.rows(chunk)
            with db.write() as session:
                for table, batch in rows:
                    if batch:
                        session.execute(insert(table), batch)
            advance(len(chunk))
    if db.dialect == "postgresql":
        _reset_sequences(db, generator.last_ids)
    return DemoSummary(
        customers=customers,
        orders=generator.last_ids[Order.__tablename__],
        returns=generator.last_ids[Return.__tablename__],
        seconds=time.perf_counter() - started,
    )


@contextmanager
def _progress(console: Console | None, total: int) -> Iterator[Callable[[int], None]]:
    if console is None:
        yield lambda _n: None
        return
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("loading demo customers", total=total)
        yield lambda n: progress.advance(task, n)


def _reset_sequences(db: Database, last_ids: dict[str, int]) -> None:
    """Point each id sequence past the keys we assigned, so later inserts get fresh ones."""
    with db.write() as session:
        for table, last in last_ids.items():
            if last > 0:
                session.execute(
                    text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                    {"table": table, "last": last},
                )
    # Fresh statistics for the planner: a bulk load leaves none until autovacuum gets round to
    # it, and without them PostgreSQL picks full scans for per-customer queries.
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


@dataclass
class ReturnPlan:
    state: ReturnState
    requested_days_ago: float


@dataclass
class OrderPlan:
    number: int  # filled in once every order's date is known
    placed_days_ago: float
    transit_days: float
    ret: ReturnPlan | None


@dataclass
class CustomerPlan:
    orders: list[OrderPlan] = field(default_factory=list)


@dataclass
class _Line:
    id: int
    product: Product
    color: str
    size: str
    quantity: int
    unit_price: int
    final_sale: bool


TABLES: tuple[Table, ...] = tuple(
    cast(Table, t.__table__)
    for t in (
        Customer,
        CustomerEmail,
        CustomerPhone,
        Order,
        OrderLine,
        Fulfillment,
        Return,
        ReturnItem,
        ExchangeItem,
        ReturnNote,
        TimelineEntry,
    )
)


class _Generator:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.last_ids: dict[str, int] = {t.name: 0 for t in TABLES}
        self.emails: set[str] = set()
        self.return_numbers: set[str] = set()
        self.external_ids = {"loop": 0, "returnlogic": 0}
        self.state_choice = Weighted(list(STATE_WEIGHTS.items()))
        self.forced_states = list(ReturnState)

    # ---- helpers ----------------------------------------------------------------------------

    def _next_id(self, table: str) -> int:
        self.last_ids[table] += 1
        return self.last_ids[table]

    def _ago(self, days: float) -> datetime:
        return self.now - timedelta(seconds=int(days * 86400))

    def _between(self, start: datetime, end: datetime) -> datetime:
        span = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randint(0, max(span, 0)))

    # ---- plan: dates and returns for every order, so order names follow placement time ----

    def plan(self, customers: int) -> list[CustomerPlan]:
        rng = self.rng
        plans: list[CustomerPlan] = []
        every_order: list[OrderPlan] = []
        for _ in range(customers):
            plan = CustomerPlan()
            for _ in range(ORDERS_PER_CUSTOMER.pick(rng)):
                order = self._plan_order()
                plan.orders.append(order)
                every_order.append(order)
            plans.append(plan)
        every_order.sort(key=lambda o: -o.placed_days_ago)  # stable: ties keep their order
        for rank, order in enumerate(every_order):
            order.number = FIRST_ORDER_NUMBER + rank
        return plans

    def _plan_order(self) -> OrderPlan:
        rng = self.rng
        transit = rng.uniform(2.0, 7.0)
        if rng.random() >= RETURN_SHARE:
            return OrderPlan(0, rng.uniform(1.0, MAX_ORDER_AGE_DAYS), transit, None)
        # The first returns cover every state once, so even a tiny demo shows all of them.
        state = self.forced_states.pop(0) if self.forced_states else self.state_choice.pick(rng)
        low, high = STATE_AGE_DAYS[state]
        requested_ago = rng.uniform(low, high)
        delay = rng.uniform(0.5, 25.0)  # delivered → return requested, inside every window
        placed_ago = min(requested_ago + delay + transit, MAX_ORDER_AGE_DAYS)
        requested_ago = min(requested_ago, placed_ago - transit - 0.1)
        return OrderPlan(0, placed_ago, transit, ReturnPlan(state, requested_ago))

    # ---- rows -------------------------------------------------------------------------------

    def rows(self, plans: Sequence[CustomerPlan]) -> list[tuple[Table, list[Row]]]:
        out: dict[str, list[Row]] = {t.name: [] for t in TABLES}
        for plan in plans:
            self._customer(plan, out)
        return [(t, out[t.name]) for t in TABLES]

    def _customer(self, plan: CustomerPlan, out: dict[str, list[Row]]) -> None:
        rng = self.rng
        customer_id = self._next_id("customers")
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        name = f"{first} {last}"
        oldest = max(o.placed_days_ago for o in plan.orders)
        created = self._ago(oldest + rng.uniform(0.0, 400.0))
        out["customers"].append(
            {
                "id": customer_id,
                "public_id": new_id(Prefix.CUSTOMER, rng),
                "name": name,
                "name_search": name.lower(),
                "tags": ["vip"] if rng.random() < 0.05 else [],
                "created_at": created,
                "updated_at": created,
            }
        )
        for position in range(2 if rng.random() < 0.08 else 1):
            out["customer_emails"].append(
                {
                    "id": self._next_id("customer_emails"),
                    "customer_id": customer_id,
                    "email": self._email(first, last),
                    "position": position,
                }
            )
        if rng.random() < 0.9:
            first_type = FIRST_PHONE_TYPE.pick(rng)
            types = [first_type]
            if rng.random() < 0.1:
                types.append(
                    rng.choice((PhoneType.HOME, PhoneType.OFFICE))
                    if first_type is PhoneType.MOBILE
                    else PhoneType.MOBILE
                )
            numbers: list[str] = []
            while len(numbers) < len(types):
                number = self._phone()
                if number not in numbers:
                    numbers.append(number)
            for position, (number, kind) in enumerate(zip(numbers, types, strict=True)):
                out["customer_phones"].append(
                    {
                        "id": self._next_id("customer_phones"),
                        "customer_id": customer_id,
                        "number": number,
                        "type": kind.value,
                        "position": position,
                    }
                )
        for order in plan.orders:
            self._order(customer_id, order, out)

    def _email(self, first: str, last: str) -> str:
        rng = self.rng
        f = "".join(c for c in first.lower() if c.isalpha())
        la = "".join(c for c in last.lower() if c.isalpha())
        local = rng.choice(
            (f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}", f"{f}.{la[0]}", f"{la}.{f}")
        )
        if rng.random() < 0.15:
            local += str(rng.randint(70, 99) if rng.random() < 0.5 else rng.randint(1, 999))
        domain = EMAIL_DOMAINS.pick(rng)
        email = f"{local}@{domain}"
        ceiling = 99
        while email in self.emails:
            email = f"{local}{rng.randint(2, ceiling)}@{domain}"
            ceiling = min(ceiling * 2, 999_999)
        self.emails.add(email)
        return email

    def _phone(self) -> str:
        rng = self.rng
        area = rng.choice(AREA_CODES)
        exchange = rng.choice(EXCHANGES)
        return f"+1{area}{exchange}{rng.randint(0, 9999):04d}"

    def _tracking(self, carrier: str) -> str:
        rng = self.rng
        if carrier == "UPS":
            body = "".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXY", k=8))
            return f"1Z{body}{rng.randint(0, 99_999_999):08d}"
        if carrier == "USPS":
            return f"9400{rng.randint(0, 10**18 - 1):018d}"
        return f"{rng.randint(10**11, 10**12 - 1)}"

    def _order(self, customer_id: int, plan: OrderPlan, out: dict[str, list[Row]]) -> None:
        rng = self.rng
        order_id = self._next_id("orders")
        placed = self._ago(plan.placed_days_ago)
        delivered: datetime | None = placed + timedelta(seconds=int(plan.transit_days * 86400))
        if delivered is not None and delivered > self.now:
            delivered = None
        out["orders"].append(
            {
                "id": order_id,
                "public_id": new_id(Prefix.ORDER, rng),
                "customer_id": customer_id,
                "name": f"#{plan.number}",
                "placed_at": placed,
                "delivered_at": delivered,
                "currency": "USD",
                "shipping_zip": f"{rng.randint(1001, 99950):05d}",
                "created_at": placed,
            }
        )
        lines: list[_Line] = []
        count = LINES_PER_ORDER.pick(rng)
        for product in rng.sample(CATALOG, count) if count > 1 else [self._product()]:
            final_sale = rng.random() < 0.08
            price = product.price
            if final_sale:
                price = round(price * 60 / 10_000) * 100
            elif rng.random() < 0.15:
                price = round(price * 75 / 10_000) * 100
            lines.append(
                _Line(
                    id=self._next_id("order_lines"),
                    product=product,
                    color=rng.choice(product.colors),
                    size=rng.choice(product.sizes),
                    quantity=1 if rng.random() < 0.85 else 2,
                    unit_price=price,
                    final_sale=final_sale,
                )
            )
        if plan.ret is not None and all(line.final_sale for line in lines):
            lines[0].final_sale = False
        for position, line in enumerate(lines):
            out["order_lines"].append(
                {
                    "id": line.id,
                    "public_id": new_id(Prefix.ORDER_LINE, rng),
                    "order_id": order_id,
                    "position": position,
                    "sku": _sku(line.product, line.color, line.size),
                    "title": line.product.title,
                    "variant": _variant(line.color, line.size),
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "final_sale": line.final_sale,
                }
            )
        shipped = placed + timedelta(seconds=rng.randint(3 * 3600, int(1.5 * 86400)))
        if shipped <= self.now:
            parcels = 2 if len(lines) > 1 and rng.random() < 0.05 else 1
            for _ in range(parcels):
                carrier = CARRIERS.pick(rng)
                out["fulfillments"].append(
                    {
                        "id": self._next_id("fulfillments"),
                        "order_id": order_id,
                        "carrier": carrier,
                        "tracking_number": self._tracking(carrier),
                        "shipped_at": shipped,
                    }
                )
        if plan.ret is not None and delivered is not None:
            self._return(customer_id, order_id, delivered, lines, plan.ret, out)

    def _product(self) -> Product:
        return SINGLE_PRODUCT.pick(self.rng)

    def _return(
        self,
        customer_id: int,
        order_id: int,
        delivered: datetime,
        lines: list[_Line],
        plan: ReturnPlan,
        out: dict[str, list[Row]],
    ) -> None:
        rng = self.rng
        return_id = self._next_id("returns")
        state = plan.state
        requested = max(self._ago(plan.requested_days_ago), delivered + timedelta(hours=2))
        actions = PATH_CHOICE[state].pick(rng)

        # Step times: typical gaps, squeezed when they would not fit between request and now.
        gaps = [rng.uniform(*STEP_DAYS[a]) for a in actions]
        room = (self.now - requested).total_seconds() / 86400 * 0.98
        if sum(gaps) > room:
            gaps = [g * room / sum(gaps) for g in gaps]
        steps: list[tuple[ReturnAction, datetime]] = []
        at = requested
        for action, gap in zip(actions, gaps, strict=True):
            at = at + timedelta(seconds=int(gap * 86400))
            steps.append((action, at))
        when = dict(steps)

        # Items, reasons and outcomes.
        candidates = [line for line in lines if not line.final_sale]
        wanted = min(ITEMS_PER_RETURN.pick(rng), len(candidates))
        chosen = rng.sample(candidates, wanted) if wanted > 1 else [candidates[0]]
        item_rows: list[Row] = []
        exchange_rows: list[Row] = []
        refund_amount = 0
        method = ""
        for line in chosen:
            parent = PARENT_REASONS.pick(rng)
            reason = rng.choice(REASONS[parent])
            outcome = FIT_OUTCOMES.pick(rng) if parent == "Fit" else OTHER_OUTCOMES.pick(rng)
            quantity = line.quantity if line.quantity == 1 or rng.random() < 0.6 else 1
            condition = "damaged" if reason in DAMAGE_REASONS else CONDITIONS_UNDAMAGED.pick(rng)
            item_rows.append(
                {
                    "id": self._next_id("return_items"),
                    "public_id": new_id(Prefix.RETURN_ITEM, rng),
                    "return_id": return_id,
                    "order_line_id": line.id,
                    "quantity": quantity,
                    "reason": reason,
                    "parent_reason": parent,
                    "comment": rng.choice(COMMENTS) if rng.random() < 0.3 else "",
                    "expected_condition": condition,
                    "outcome": outcome.value,
                }
            )
            if outcome is Outcome.EXCHANGE:
                color, size = _exchange_variant(rng, line, reason)
                exchange_rows.append(
                    {
                        "id": self._next_id("exchange_items"),
                        "return_id": return_id,
                        "sku": _sku(line.product, color, size),
                        "title": line.product.title,
                        "variant": _variant(color, size),
                        "quantity": quantity,
                    }
                )
            else:
                refund_amount += line.unit_price * quantity
                method = method or REFUND_METHOD[outcome]

        # Refund: void when the return came to nothing, issued once the goods were handled.
        refund_issued: datetime | None = None
        if refund_amount == 0:
            refund_state = "none"
        elif state in VOID_END_STATES or (state is S.CLOSED and A.REJECT in when):
            refund_state = "void"
        elif state is S.CLOSED or (state is S.PROCESSED and rng.random() < 0.75):
            done = when[A.PROCESS]
            end = when.get(A.CLOSE, min(done + timedelta(days=2), self.now))
            refund_issued = self._between(done, end)
            refund_state = "issued"
        elif state is S.RECEIVED and rng.random() < 0.12:
            refund_issued = self._between(when[A.RECEIVE], self.now)
            refund_state = "issued"
        else:
            refund_state = "pending"

        # Label: bought when the return is authorised; its status follows the parcel.
        carrier = tracking = label_status = ""
        label_updated: datetime | None = None
        if A.AUTHORIZE in when:
            carrier = CARRIERS.pick(rng)
            tracking = self._tracking(carrier)
            if A.RECEIVE in when:
                label_status, label_updated = "delivered", when[A.RECEIVE]
            elif state is S.CANCELLED:
                label_status, label_updated = "cancelled", when[A.CANCEL]
            elif state is S.EXPIRED:
                label_status, label_updated = "expired", when[A.EXPIRE]
            elif A.SHIP in when:
                label_status, label_updated = "in_transit", when[A.SHIP]
            else:
                label_status, label_updated = "new", when[A.AUTHORIZE]

        source = SOURCE_SYSTEMS.pick(rng)
        external_id: str | None = None
        if source == "loop":
            self.external_ids["loop"] += 1
            external_id = str(31_000_000 + self.external_ids["loop"] * 7 + rng.randint(0, 6))
        elif source == "returnlogic":
            self.external_ids["returnlogic"] += 1
            external_id = f"RL-{100_000 + self.external_ids['returnlogic']}"

        number = new_return_number(rng)
        while number in self.return_numbers:
            number = new_return_number(rng)
        self.return_numbers.add(number)

        # Timeline (and notes), in time order so ids follow the story.
        creator = {"loop": "loop", "returnlogic": "returnlogic"}.get(source, "customer")
        events: list[tuple[datetime, str, Row]] = [
            (
                requested,
                "timeline",
                _timeline("created", f"return {number} requested", creator, None, S.REQUESTED),
            )
        ]
        current = S.REQUESTED
        for action, at in steps:
            target = next_state(current, action)
            events.append(
                (
                    at,
                    "timeline",
                    _timeline(
                        f"state.{action.value}",
                        _action_message(rng, action, current, target),
                        _actor(rng, action),
                        current,
                        target,
                    ),
                )
            )
            current = target
        if refund_issued is not None:
            events.append(
                (
                    refund_issued,
                    "timeline",
                    _timeline("refund.issued", f"refund of {refund_amount} USD issued", "system"),
                )
            )
        for _ in range(NOTES_PER_RETURN.pick(rng)):
            author = rng.choice(AGENTS)
            body = rng.choice(NOTES)
            at = self._between(requested, self.now)
            events.append(
                (
                    at,
                    "note",
                    {
                        "public_id": new_id(Prefix.NOTE, rng),
                        "body": body,
                        "author": author,
                    },
                )
            )
            events.append((at, "timeline", _timeline("note", body, author)))
        events.sort(key=lambda e: e[0])  # stable: a note's timeline entry follows the note
        for at, kind, row in events:
            row["return_id"] = return_id
            row["created_at"] = at
            if kind == "note":
                row["id"] = self._next_id("return_notes")
                out["return_notes"].append(row)
            else:
                row["id"] = self._next_id("return_timeline")
                out["return_timeline"].append(row)

        out["returns"].append(
            {
                "id": return_id,
                "public_id": new_id(Prefix.RETURN, rng),
                "number": number,
                "order_id": order_id,
                "customer_id": customer_id,
                "state": state.value,
                "currency": "USD",
                "refund_amount": refund_amount,
                "refund_method": method,
                "refund_state": refund_state,
                "refund_issued_at": refund_issued,
                "label_carrier": carrier,
                "label_tracking_number": tracking,
                "label_status": label_status,
                "label_updated_at": label_updated,
                "status_page_url": STATUS_PAGE_URL.format(number=number),
                "source_system": source,
                "external_id": external_id,
                # A return that lives in another platform carries that platform's last change.
                "source_updated_at": events[-1][0] if external_id is not None else None,
                "received_at": when.get(A.RECEIVE),
                "created_at": requested,
                "updated_at": events[-1][0],
            }
        )
        out["return_items"].extend(item_rows)
        out["exchange_items"].extend(exchange_rows)


def _sku(product: Product, color: str, size: str) -> str:
    return f"{product.sku_stem}-{color}-{size}"


def _variant(color: str, size: str) -> str:
    return f"{COLORS[color]} / {'One Size' if size == 'OS' else size}"


def _exchange_variant(rng: random.Random, line: _Line, reason: str) -> tuple[str, str]:
    """The size that fixes the fit, else another colour of the same size."""
    sizes = line.product.sizes
    index = sizes.index(line.size)
    if reason in SMALLER_FIT and index + 1 < len(sizes):
        return line.color, sizes[index + 1]
    if reason in LARGER_FIT and index > 0:
        return line.color, sizes[index - 1]
    others = [c for c in line.product.colors if c != line.color]
    return (rng.choice(others) if others else line.color), line.size


def _timeline(
    kind: str,
    message: str,
    actor: str,
    from_state: ReturnState | None = None,
    to_state: ReturnState | None = None,
) -> Row:
    return {
        "kind": kind,
        "from_state": from_state.value if from_state else None,
        "to_state": to_state.value if to_state else None,
        "message": message,
        "actor": actor,
    }


def _action_message(
    rng: random.Random, action: ReturnAction, source: ReturnState, target: ReturnState
) -> str:
    pool = {
        A.FLAG: FLAG_MESSAGES,
        A.REJECT: REJECT_MESSAGES,
        A.CANCEL: CANCEL_MESSAGES,
        A.EXPIRE: EXPIRE_MESSAGES,
    }.get(action)
    if pool is not None:
        return rng.choice(pool)
    return f"{action.value}: {source.value} → {target.value}"


def _actor(rng: random.Random, action: ReturnAction) -> str:
    if action in (A.SHIP,):
        return "carrier"
    if action in (A.RECEIVE, A.PROCESS):
        return "warehouse"
    if action in (A.EXPIRE, A.CLOSE):
        return "system"
    if action is A.AUTHORIZE:
        return "system" if rng.random() < 0.8 else rng.choice(AGENTS)
    if action is A.CANCEL and rng.random() < 0.6:
        return "customer"
    if action is A.FLAG and rng.random() < 0.7:
        return "warehouse"
    return rng.choice(AGENTS)
