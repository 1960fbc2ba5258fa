"""Landing-file contracts: the columns every channel delivers, with their types.

One definition serves the simulator (which writes these columns), the ingestion
assets (which type-check every row against them) and the dbt sources. Raw tables
are created from these contracts, not inferred from files, so that a malformed
file can never change the shape of the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One landing column: its DuckDB type and whether a row is useless without it."""

    name: str
    type: str = "VARCHAR"
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class SourceContract:
    """What one channel delivers under ``data/landing/<name>/``."""

    name: str
    description: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    #: columns holding personal identifiers (kept in raw / staging only)
    pii_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, type_: str = "VARCHAR", required: bool = False, description: str = "") -> Column:
    return Column(name, type_, required, description)


TS = "TIMESTAMP"
MONEY = "DECIMAL(18,2)"

SOURCES: dict[str, SourceContract] = {
    s.name: s
    for s in [
        SourceContract(
            "shop_orders",
            "Web shop, app and marketplace orders, one row per order line (order header repeated).",
            (
                _c("order_id", required=True),
                _c("line_number", "INTEGER", required=True),
                _c("ordered_at", TS, required=True, description="Order time, UTC"),
                _c("sales_channel", required=True, description="web / app / marketplace"),
                _c("account_id", description="Shop account id when logged in"),
                _c("account_email"),
                _c("phone"),
                _c("device_id"),
                _c("product_id", required=True),
                _c("quantity", "INTEGER", required=True),
                _c("unit_price", MONEY, required=True),
                _c("discount_amount", MONEY),
                _c("coupon_code"),
                _c("currency", required=True),
                _c("order_status", required=True, description="completed / returned / cancelled"),
                _c("campaign_id", description="Campaign credited by the shop (utm), if any"),
            ),
            ("order_id", "line_number"),
            ("account_email", "phone", "device_id"),
        ),
        SourceContract(
            "pos_transactions",
            "Physical store transactions, one row per basket line.",
            (
                _c("transaction_id", required=True),
                _c("line_number", "INTEGER", required=True),
                _c("transacted_at", TS, required=True),
                _c("store_id", required=True),
                _c("loyalty_card_number"),
                _c("phone"),
                _c("product_id", required=True),
                _c("quantity", "INTEGER", required=True),
                _c("unit_price", MONEY, required=True),
                _c("discount_amount", MONEY),
                _c("coupon_code"),
                _c("currency", required=True),
                _c("transaction_type", required=True, description="sale / return"),
            ),
            ("transaction_id", "line_number"),
            ("loyalty_card_number", "phone"),
        ),
        SourceContract(
            "web_events",
            "Web analytics events; anonymous cookie ids, e-mail once the visitor logs in.",
            (
                _c("event_id", required=True),
                _c("occurred_at", TS, required=True),
                _c("cookie_id", required=True),
                _c("account_email", description="Set on login events and for logged-in sessions"),
                _c("session_id", required=True),
                _c(
                    "event_type", required=True,
                    description="page_view / product_view / add_to_cart / checkout / login",
                ),
                _c("product_id"),
                _c("campaign_id", description="utm campaign of the landing page, if any"),
                _c("referrer_channel", description="direct / search / social / email / sms / push / paid"),
            ),
            ("event_id",),
            ("cookie_id", "account_email"),
        ),
        SourceContract(
            "app_events",
            "Mobile app events; device ids, account id once the user logs in.",
            (
                _c("event_id", required=True),
                _c("occurred_at", TS, required=True),
                _c("device_id", required=True),
                _c("account_id", description="Set when the user is logged in"),
                _c("session_id", required=True),
                _c("event_type", required=True, description="app_open / product_view / add_to_cart / checkout / login"),
                _c("product_id"),
                _c("platform", description="ios / android"),
                _c("campaign_id"),
            ),
            ("event_id",),
            ("device_id",),
        ),
        SourceContract(
            "email_engagement",
            "E-mail service provider events.",
            (
                _c("event_id", required=True),
                _c("occurred_at", TS, required=True),
                _c("email", required=True),
                _c("campaign_id"),
                _c("event_type", required=True, description="sent / delivered / open / click / unsubscribe / bounce"),
            ),
            ("event_id",),
            ("email",),
        ),
        SourceContract(
            "sms_engagement",
            "SMS gateway events.",
            (
                _c("event_id", required=True),
                _c("occurred_at", TS, required=True),
                _c("phone", required=True),
                _c("campaign_id"),
                _c("event_type", required=True, description="sent / delivered / click / unsubscribe / bounce"),
            ),
            ("event_id",),
            ("phone",),
        ),
        SourceContract(
            "push_engagement",
            "Push notification events, by app device id.",
            (
                _c("event_id", required=True),
                _c("occurred_at", TS, required=True),
                _c("device_id", required=True),
                _c("campaign_id"),
                _c("event_type", required=True, description="sent / delivered / open / click / unsubscribe / bounce"),
            ),
            ("event_id",),
            ("device_id",),
        ),
        SourceContract(
            "social_interactions",
            "Messaging / social platform interactions by open id, sometimes bound to a phone.",
            (
                _c("interaction_id", required=True),
                _c("occurred_at", TS, required=True),
                _c("platform", required=True),
                _c("open_id", required=True),
                _c("phone", description="Bound phone, when the user shared it"),
                _c("interaction_type", required=True, description="follow / unfollow / share / message / like"),
                _c("campaign_id"),
            ),
            ("interaction_id",),
            ("open_id", "phone"),
        ),
        SourceContract(
            "crm_profiles",
            "Loyalty programme members; a member may be delivered again when the profile changes.",
            (
                _c("member_id", required=True),
                _c("updated_at", TS, required=True),
                _c("loyalty_card_number"),
                _c("account_id", description="Shop account id linked to the membership"),
                _c("first_name"),
                _c("last_name"),
                _c("email"),
                _c("phone"),
                _c("birth_date", "DATE"),
                _c("gender", description="female / male / other / unknown"),
                _c("city"),
                _c("region"),
                _c("postcode"),
                _c("income_band", description="low / lower_middle / upper_middle / high"),
                _c("interests", description="Semicolon-separated interests"),
                _c("preferred_channel", description="email / sms / push / social / none"),
                _c("consent_email", "BOOLEAN"),
                _c("consent_email_at", TS),
                _c("consent_sms", "BOOLEAN"),
                _c("consent_sms_at", TS),
                _c("consent_push", "BOOLEAN"),
                _c("consent_push_at", TS),
                _c("signup_at", TS, required=True),
                _c(
                    "acquisition_channel",
                    description="organic / paid_search / social_ads / referral / affiliate / store",
                ),
            ),
            ("member_id", "updated_at"),
            ("first_name", "last_name", "email", "phone", "loyalty_card_number", "birth_date", "postcode"),
        ),
        SourceContract(
            "service_tickets",
            "Customer-service tickets with satisfaction answers.",
            (
                _c("ticket_id", required=True),
                _c("opened_at", TS, required=True),
                _c("closed_at", TS),
                _c("contact_channel", required=True, description="phone / email / chat / social"),
                _c("email"),
                _c("phone"),
                _c("topic", required=True),
                _c("resolution"),
                _c("csat", "INTEGER", description="1-5"),
                _c("nps", "INTEGER", description="0-10"),
            ),
            ("ticket_id",),
            ("email", "phone"),
        ),
        SourceContract(
            "campaigns",
            "Marketing campaigns with their cost.",
            (
                _c("campaign_id", required=True),
                _c("campaign_name", required=True),
                _c("channel", required=True, description="email / sms / push / social / paid_search / display"),
                _c("objective", description="acquisition / retention / winback / promotion"),
                _c("target_segment"),
                _c("started_at", TS, required=True),
                _c("ended_at", TS),
                _c("cost", MONEY, required=True),
                _c("currency", required=True),
                _c("discount_pct", "DOUBLE", description="Offer depth, 0 when no offer"),
            ),
            ("campaign_id",),
        ),
        SourceContract(
            "campaign_touches",
            "Who a campaign targeted and when; control-group members were selected but not contacted.",
            (
                _c("touch_id", required=True),
                _c("campaign_id", required=True),
                _c("touched_at", TS, required=True),
                _c("channel", required=True),
                _c("email"),
                _c("phone"),
                _c("device_id"),
                _c("member_id"),
                _c(
                    "account_id",
                    description="Shop account the audience was synced from: the campaign tool's external id",
                ),
                _c("is_control", "BOOLEAN", required=True),
            ),
            ("touch_id",),
            ("email", "phone", "device_id"),
        ),
        SourceContract(
            "products",
            "Product catalogue.",
            (
                _c("product_id", required=True),
                _c("product_name", required=True),
                _c("category", required=True),
                _c("list_price", MONEY, required=True),
                _c("unit_cost", MONEY, required=True),
                _c("currency", required=True),
            ),
            ("product_id",),
        ),
    ]
}

#: Control sources carry instructions to the pipeline, not channel data: they are loaded by
#: the same loader (checksums, manifest, rejects) but have no staging model, no GX suite and
#: are not written by the simulator unless asked. See orchestration/erasure.py.
ERASURE_REQUESTS = SourceContract(
    "erasure_requests",
    "Right-to-erasure requests: one identifier of the person to forget per row.",
    (
        _c("request_id", required=True),
        _c("requested_at", TS, required=True),
        _c(
            "identifier_type", required=True,
            description="email / phone / device_id / cookie_id / account_id / loyalty_card_number / member_id / "
            "open_id (as <platform>:<open id>, or the bare open id)",
        ),
        _c("identifier_value", required=True, description="As the person gave it; normalised like staging does"),
    ),
    ("request_id",),
    ("identifier_value",),
)
#: Do-not-contact list for audience exports (orchestration/audiences.py): an address or a
#: customer that must never receive marketing on a channel, whatever its consent says.
SUPPRESSIONS = SourceContract(
    "suppressions",
    "Marketing suppression list: one address or customer id per row that no audience export may contain.",
    (
        _c("suppression_id", required=True),
        _c("suppressed_at", TS, required=True),
        _c("channel", required=True, description="email / sms / push / social, or all"),
        _c(
            "identifier_type", required=True,
            description="email / phone / device_id / open_id (<platform>:<open id>) / account_id / member_id / "
            "loyalty_card_number / customer_id",
        ),
        _c("identifier_value", required=True, description="As given; normalised like staging does"),
        _c("reason", description="complaint / hard_bounce / legal / do_not_contact / ..."),
    ),
    ("suppression_id",),
    ("identifier_value",),
)
CONTROL_SOURCES: dict[str, SourceContract] = {ERASURE_REQUESTS.name: ERASURE_REQUESTS, SUPPRESSIONS.name: SUPPRESSIONS}
#: Everything the loader accepts under data/landing/<name>/.
LANDING_SOURCES: dict[str, SourceContract] = {**SOURCES, **CONTROL_SOURCES}
