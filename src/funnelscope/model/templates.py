"""Ready stage models: the funnels marketers and sales teams already use, as templates.

Each template names its stages in order (top of the funnel first) and suggests the snake_case
event names an event funnel would use for each stage. No I/O here: `funnelscope.demo.specs`
turns the templates into spec files.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnelscope.errors import SpecError


@dataclass(frozen=True)
class Stage:
    """One stage of a stage model: a key, a short label and what it means in plain words."""

    key: str
    label: str
    description: str


@dataclass(frozen=True)
class StageTemplate:
    """A named stage model: its stages in order and one suggested event name per stage."""

    name: str
    title: str
    source: str
    stages: tuple[Stage, ...]
    event_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.stages) != len(self.event_names):
            raise ValueError(f"template {self.name!r}: one event name per stage is required")

    @property
    def stage_keys(self) -> tuple[str, ...]:
        """The stage keys in funnel order."""
        return tuple(stage.key for stage in self.stages)


def _template(
    name: str, title: str, source: str, stages: list[tuple[str, str, str, str]]
) -> StageTemplate:
    """Build a template from ``(key, label, event name, description)`` rows."""
    return StageTemplate(
        name=name,
        title=title,
        source=source,
        stages=tuple(Stage(key, label, description) for key, label, _, description in stages),
        event_names=tuple(event for _, _, event, _ in stages),
    )


_ARTICLES = "sales-funnel articles (Chinese, Ukrainian, Korean)"

_ALL = (
    _template(
        "seven-stage",
        "Seven-stage web sales funnel",
        _ARTICLES,
        [
            (
                "awareness",
                "Awareness",
                "site_visited",
                "The person first learns the product exists: an ad, a post, a search result.",
            ),
            (
                "interest",
                "Interest",
                "content_viewed",
                "They look closer: read a page, watch a video, browse the catalogue.",
            ),
            (
                "evaluation",
                "Evaluation",
                "comparison_viewed",
                "They weigh the offer against competitors: reviews, comparisons, specs.",
            ),
            (
                "decision",
                "Decision",
                "pricing_viewed",
                "They see the price and negotiate; an exit-intent offer can keep them here.",
            ),
            (
                "purchase",
                "Purchase",
                "purchase_completed",
                "They buy, or do the target action you set (for example leave an email).",
            ),
            (
                "re_evaluation",
                "Re-evaluation",
                "renewal_decided",
                "When a subscription or contract is up, they decide again whether to renew.",
            ),
            (
                "repurchase",
                "Repurchase",
                "repeat_purchase",
                "They buy again: the customer stays and spends more.",
            ),
        ],
    ),
    _template(
        "tofu-mofu-bofu",
        "TOFU / MOFU / BOFU",
        _ARTICLES,
        [
            (
                "top",
                "Top of funnel",
                "site_visited",
                "Attraction: people arrive from ads, search, social posts or friends.",
            ),
            (
                "middle",
                "Middle of funnel",
                "lead_captured",
                "Engagement: they subscribe or leave their contact details.",
            ),
            (
                "bottom",
                "Bottom of funnel",
                "purchase_completed",
                "Decision and sale: they choose you and pay.",
            ),
        ],
    ),
    _template(
        "ecommerce-capture",
        "E-commerce capture-to-closing funnel",
        "Korean e-commerce article",
        [
            (
                "capture",
                "Capture",
                "visit_captured",
                "A visitor is brought in by an ad, a search or a referral.",
            ),
            (
                "proposal",
                "Proposal",
                "landing_form_submitted",
                "The landing page, form or subscription makes them an offer they take up.",
            ),
            (
                "opportunity",
                "Opportunity",
                "personal_email_clicked",
                "A personalised email brings them back with something relevant to them.",
            ),
            (
                "qualification",
                "Qualification",
                "cross_sell_clicked",
                "Cross-sell offers show they are a serious buyer.",
            ),
            (
                "closing",
                "Closing",
                "order_completed",
                "The order is done.",
            ),
        ],
    ),
    _template(
        "crm-b2b",
        "CRM / B2B pipeline",
        "a CRM vendor's guide",
        [
            (
                "awareness",
                "Awareness",
                "first_touch",
                "The company first hears of you: an ad, an event, a cold email.",
            ),
            (
                "interest",
                "Interest",
                "content_engaged",
                "Someone reads your material, joins a webinar or follows you.",
            ),
            (
                "consideration",
                "Consideration",
                "demo_requested",
                "They put you on their shortlist and ask to see more.",
            ),
            (
                "intent",
                "Intent",
                "quote_requested",
                "They show they mean to buy: fill a cart or ask for a quote.",
            ),
            (
                "evaluation",
                "Evaluation / decision",
                "proposal_reviewed",
                "They review the proposal and terms and decide.",
            ),
            (
                "purchase",
                "Purchase",
                "purchase_completed",
                "The contract is signed or the order is paid.",
            ),
            (
                "loyalty",
                "Loyalty",
                "repeat_purchase",
                "They renew, buy more and recommend you.",
            ),
        ],
    ),
    _template(
        "aida-loyalty",
        "AIDA + loyalty",
        _ARTICLES,
        [
            (
                "attention",
                "Attention",
                "ad_viewed",
                "Your message catches their eye.",
            ),
            (
                "interest",
                "Interest",
                "content_viewed",
                "They want to know more and read on.",
            ),
            (
                "desire",
                "Desire",
                "added_to_wishlist",
                "They want the product: save it, compare options, come back to it.",
            ),
            (
                "action",
                "Action",
                "purchase_completed",
                "They act: buy, book or sign up.",
            ),
            (
                "loyalty",
                "Loyalty",
                "repeat_purchase",
                "They come back, buy again and tell others.",
            ),
        ],
    ),
    _template(
        "search-marketing",
        "Search-marketing funnel",
        "a marketing manager's handbook on the search-marketing funnel",
        [
            (
                "impressions",
                "Impressions",
                "ad_impression",
                "Times your ad was shown (from the ad account report).",
            ),
            (
                "clicks",
                "Clicks",
                "ad_clicked",
                "Times someone clicked the ad; clicks / impressions is the click-through rate.",
            ),
            (
                "visits",
                "Visits",
                "page_loaded",
                "The landing page fully loaded (from web analytics); 20-30% loss is normal.",
            ),
            (
                "inquiries",
                "Inquiries",
                "inquiry_made",
                "The visitor got in touch: online chat, a phone call or a form.",
            ),
            (
                "orders",
                "Orders",
                "order_placed",
                "The inquiry became an order, often closed offline by sales.",
            ),
        ],
    ),
    _template(
        "ecommerce-behaviour",
        "E-commerce behaviour funnel",
        _ARTICLES,
        [
            (
                "page_opened",
                "Page opened",
                "page_opened",
                "A shopper opens a page of the shop.",
            ),
            (
                "product_clicked",
                "Product clicked",
                "product_clicked",
                "They click a product to see its details.",
            ),
            (
                "added_to_cart",
                "Added to cart",
                "added_to_cart",
                "They put the product in the cart.",
            ),
            (
                "paid",
                "Paid",
                "paid",
                "They pay for the order.",
            ),
            (
                "order_completed",
                "Order completed",
                "order_completed",
                "The order goes through and is confirmed.",
            ),
        ],
    ),
    _template(
        "growth-loop",
        "Growth loop",
        _ARTICLES,
        [
            (
                "traffic",
                "Traffic",
                "site_visited",
                "People arrive at your shop or app.",
            ),
            (
                "conversion",
                "Conversion",
                "first_purchase",
                "A visitor becomes a customer.",
            ),
            (
                "repurchase",
                "Repurchase",
                "repeat_purchase",
                "The customer buys again.",
            ),
            (
                "referral",
                "Referral",
                "friend_referred",
                "Customers bring in new customers (the 'fission' effect).",
            ),
        ],
    ),
    _template(
        "sales-rep",
        "Sales-rep pipeline",
        "a CRM vendor's guide",
        [
            (
                "first_contact",
                "First contact",
                "first_contact_made",
                "The rep reaches the lead for the first time.",
            ),
            (
                "needs_analysis",
                "Needs analysis",
                "needs_analysed",
                "The rep learns what the lead needs, and whether you can help.",
            ),
            (
                "proposal",
                "Proposal",
                "proposal_sent",
                "The rep sends an offer that fits those needs.",
            ),
            (
                "negotiation",
                "Negotiation",
                "negotiation_started",
                "Price and terms are discussed.",
            ),
            (
                "won",
                "Won",
                "deal_won",
                "The deal is signed. Deals that end here as lost are the drop-off.",
            ),
        ],
    ),
)

TEMPLATES: dict[str, StageTemplate] = {template.name: template for template in _ALL}
"""Every ready stage model, by name, in a stable order."""


def get_template(name: str) -> StageTemplate:
    """The stage model called `name`; an unknown name raises SpecError listing the valid ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise SpecError(
            "template", f"unknown template {name!r}", f"use one of: {', '.join(TEMPLATES)}"
        ) from None
