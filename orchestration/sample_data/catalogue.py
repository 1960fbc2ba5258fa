"""Global entities shared by every chunk: products, stores, tablets, campaigns, name lists.

They are drawn once from the global random stream, before any person, so every chunk sees
the same catalogue and campaign calendar and chunks stay independent of each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from orchestration.sample_data.identifiers import hex_tokens
from orchestration.sample_data.personas import CATEGORIES
from orchestration.sample_data.seasonality import DAY_S, LOCAL_OFFSET_S, to_epoch

# ----------------------------------------------------------------------------- names & places

SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
    ("林", "lin"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
    ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
)  # fmt: skip
GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"),
    ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("秀兰", "xiulan"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂英", "guiying"), ("欣怡", "xinyi"),
    ("子涵", "zihan"), ("浩然", "haoran"), ("梓萱", "zixuan"), ("宇轩", "yuxuan"), ("思雨", "siyu"),
    ("俊杰", "junjie"), ("雨桐", "yutong"), ("博文", "bowen"), ("佳怡", "jiayi"), ("一诺", "yinuo"),
)  # fmt: skip
#: (city, region/province, postcode prefix, weight)
CITIES: tuple[tuple[str, str, str, float], ...] = (
    ("Shanghai", "Shanghai", "200", 0.12), ("Beijing", "Beijing", "100", 0.11),
    ("Guangzhou", "Guangdong", "510", 0.08), ("Shenzhen", "Guangdong", "518", 0.08),
    ("Hangzhou", "Zhejiang", "310", 0.06), ("Chengdu", "Sichuan", "610", 0.06),
    ("Wuhan", "Hubei", "430", 0.05), ("Nanjing", "Jiangsu", "210", 0.05), ("Suzhou", "Jiangsu", "215", 0.04),
    ("Chongqing", "Chongqing", "400", 0.05), ("Xi'an", "Shaanxi", "710", 0.04),
    ("Tianjin", "Tianjin", "300", 0.04), ("Changsha", "Hunan", "410", 0.03),
    ("Qingdao", "Shandong", "266", 0.03), ("Xiamen", "Fujian", "361", 0.03),
    ("Kunming", "Yunnan", "650", 0.03), ("Dalian", "Liaoning", "116", 0.02),
    ("Shenyang", "Liaoning", "110", 0.02), ("Ningbo", "Zhejiang", "315", 0.02),
    ("Zhengzhou", "Henan", "450", 0.02), ("Hefei", "Anhui", "230", 0.02),
)  # fmt: skip
EMAIL_DOMAINS: tuple[str, ...] = (
    "qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "foxmail.com", "icloud.com",
)  # fmt: skip
EMAIL_DOMAIN_WEIGHTS = np.array([0.35, 0.2, 0.1, 0.07, 0.08, 0.08, 0.07, 0.05])
MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "170", "176", "177", "178", "180", "181", "182", "183",
    "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip
INTERESTS: tuple[str, ...] = (
    "beauty", "fashion", "electronics", "home_living", "food", "parenting", "sports", "jewelry",
    "travel", "books",
)  # fmt: skip
SOCIAL_PLATFORMS: tuple[str, ...] = ("wechat", "douyin", "weibo")

# ----------------------------------------------------------------------------- products

_CATEGORY_SPEC: dict[str, tuple[float, float, float, list[str], list[str]]] = {
    # category: (min price, max price, cost ratio, English nouns, Chinese labels)
    "beauty": (
        49, 899, 0.35,
        ["Hydrating Serum", "Lipstick", "Sunscreen SPF50", "Face Mask", "Eye Cream"],
        ["精华", "口红", "防晒霜", "面膜", "眼霜"],
    ),
    "fashion": (
        79, 1599, 0.45,
        ["Silk Scarf", "Down Jacket", "Linen Shirt", "Knit Sweater", "Sneakers"],
        ["丝巾", "羽绒服", "亚麻衬衫", "针织衫", "运动鞋"],
    ),
    "electronics": (
        99, 4999, 0.72,
        ["Wireless Earbuds", "Smart Watch", "Power Bank", "Tablet Stand", "Bluetooth Speaker"],
        ["无线耳机", "智能手表", "充电宝", "平板支架", "蓝牙音箱"],
    ),
    "home": (
        29, 999, 0.5,
        ["Tea Set", "Bedding Set", "Aroma Diffuser", "Ceramic Bowl", "Storage Box"],
        ["茶具", "床品套件", "香薰机", "陶瓷碗", "收纳盒"],
    ),
    "food_gifts": (
        19, 599, 0.55,
        ["Mooncake Gift Box", "Oolong Tea", "Nut Hamper", "Chocolate Box", "Dried Fruit Mix"],
        ["月饼礼盒", "乌龙茶", "坚果礼篮", "巧克力礼盒", "果干"],
    ),
    "baby": (
        29, 699, 0.5,
        ["Baby Lotion", "Diapers", "Feeding Bottle", "Soft Toy", "Baby Blanket"],
        ["婴儿润肤乳", "纸尿裤", "奶瓶", "毛绒玩具", "婴儿毯"],
    ),
    "sports": (
        59, 1999, 0.55,
        ["Yoga Mat", "Running Shoes", "Fitness Band", "Water Bottle", "Sports Bag"],
        ["瑜伽垫", "跑鞋", "健身手环", "运动水杯", "运动包"],
    ),
    "jewelry": (
        199, 5999, 0.4,
        ["Gold Pendant", "Pearl Earrings", "Silver Bracelet", "Jade Ring", "Necklace"],
        ["金吊坠", "珍珠耳环", "银手镯", "玉戒指", "项链"],
    ),
}  # fmt: skip
_VARIANTS = ("Classic", "Deluxe", "Mini", "Premium", "Limited Edition")


@dataclass(frozen=True)
class Catalogue:
    """Products sorted by (category, price), so a price lookup within a category is a searchsorted."""

    product_id: np.ndarray  # str
    product_name: np.ndarray
    category: np.ndarray  # int index into CATEGORIES
    price_cents: np.ndarray  # int64
    cost_cents: np.ndarray
    block_start: np.ndarray  # first product index of each category
    block_end: np.ndarray
    lookup_key: np.ndarray  # category * 100 + log(price): sorted

    def nearest(self, category: np.ndarray, target_cents: np.ndarray) -> np.ndarray:
        """Index of the product in ``category`` whose price is closest (in log terms) to the target."""
        q = category * 100.0 + np.log(np.maximum(target_cents, 1.0))
        hi = np.searchsorted(self.lookup_key, q)
        lo = hi - 1
        hi = np.clip(hi, self.block_start[category], self.block_end[category] - 1)
        lo = np.clip(lo, self.block_start[category], self.block_end[category] - 1)
        pick_hi = np.abs(self.lookup_key[hi] - q) < np.abs(self.lookup_key[lo] - q)
        return np.where(pick_hi, hi, lo)

    def random_in(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """A uniformly random product of each given category."""
        span = self.block_end[category] - self.block_start[category]
        return self.block_start[category] + (rng.random(len(category)) * span).astype(np.int64)

    def table(self) -> pa.Table:
        """The ``products`` landing table."""
        return pa.table(
            {
                "product_id": pa.array(self.product_id),
                "product_name": pa.array(self.product_name),
                "category": pa.array(np.array(CATEGORIES)[self.category]),
                "list_price": money(self.price_cents),
                "unit_cost": money(self.cost_cents),
                "currency": pa.array(np.full(len(self.product_id), "CNY")),
            }
        )


def money(cents: np.ndarray) -> pa.Array:
    """Integer cents as DECIMAL(18,2) (written with exactly two decimals)."""
    return pa.array(np.asarray(cents, dtype=np.int64) / 100.0).cast(pa.decimal128(18, 2), safe=False)


def make_catalogue(rng: np.random.Generator, per_category: int = 25) -> Catalogue:
    """About 200 products; names are bilingual and a few need CSV quoting (comma, quote)."""
    ids, names, cats, prices, costs = [], [], [], [], []
    n = 0
    for ci, cat in enumerate(CATEGORIES):
        lo, hi, cost_ratio, nouns, labels = _CATEGORY_SPEC[cat]
        raw = np.exp(rng.uniform(np.log(lo), np.log(hi), per_category))
        # retail price points: ..9 or ..9.9
        p = np.where(raw < 100, np.floor(raw) + 0.9, np.floor(raw / 10) * 10 + 9)
        for j in range(per_category):
            n += 1
            k = j % len(nouns)
            variant = _VARIANTS[(j // len(nouns)) % len(_VARIANTS)]
            name = f"{variant} {nouns[k]} {labels[k]}"
            if j % 11 == 3:
                name = f"{name}, 2-pack"
            elif j % 17 == 5:
                name = f'{nouns[k]} "{variant}" {labels[k]}'
            ids.append(f"P{n:05d}")
            names.append(name)
            cats.append(ci)
            price_c = round(p[j] * 100)
            prices.append(price_c)
            costs.append(round(price_c * float(np.clip(rng.normal(cost_ratio, 0.06), 0.15, 0.9))))
    order = np.lexsort((np.array(prices), np.array(cats)))
    cat_arr = np.array(cats)[order]
    price_arr = np.array(prices, dtype=np.int64)[order]
    starts = np.searchsorted(cat_arr, np.arange(len(CATEGORIES)))
    ends = np.searchsorted(cat_arr, np.arange(len(CATEGORIES)), side="right")
    return Catalogue(
        product_id=np.array(ids)[order],
        product_name=np.array(names, dtype=object)[order],
        category=cat_arr,
        price_cents=price_arr,
        cost_cents=np.array(costs, dtype=np.int64)[order],
        block_start=starts,
        block_end=ends,
        lookup_key=cat_arr * 100.0 + np.log(price_arr),
    )


@dataclass(frozen=True)
class Stores:
    """Physical stores and the shared tablets some of them use for assisted app orders."""

    store_id: np.ndarray
    city: np.ndarray  # index into CITIES
    tablet_device: np.ndarray  # device id of each tablet
    tablet_store: np.ndarray  # store index of each tablet


def make_stores(rng: np.random.Generator, n_stores: int = 40, n_tablets: int = 6) -> Stores:
    """Stores spread over cities by population weight; a handful of shared store tablets."""
    w = np.array([c[3] for c in CITIES])
    city = rng.choice(len(CITIES), size=n_stores, p=w / w.sum())
    tablets = np.asarray(hex_tokens(rng, n_tablets, (8, 4, 4, 4, 12)).to_pylist())
    return Stores(
        store_id=np.array([f"ST{i + 1:03d}" for i in range(n_stores)]),
        city=city,
        tablet_device=tablets,
        tablet_store=rng.choice(n_stores, size=n_tablets, replace=False),
    )


# ----------------------------------------------------------------------------- campaigns

CAMPAIGN_CHANNELS: tuple[str, ...] = ("email", "sms", "push", "social", "paid_search", "display")
_CHANNEL_WEIGHTS = np.array([0.32, 0.16, 0.18, 0.12, 0.12, 0.10])
OBJECTIVES: tuple[str, ...] = ("acquisition", "retention", "winback", "promotion")
_OBJECTIVE_BY_CHANNEL: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "email": (("promotion", "retention", "winback"), (0.45, 0.35, 0.2)),
    "sms": (("promotion", "winback"), (0.5, 0.5)),
    "push": (("promotion", "retention"), (0.6, 0.4)),
    "social": (("promotion",), (1.0,)),
    "paid_search": (("acquisition",), (1.0,)),
    "display": (("acquisition",), (1.0,)),
}
_SEGMENT = {
    "acquisition": "lookalike_prospects",
    "retention": "active_180d",
    "winback": "lapsed_180_720d",
    "promotion": "all_consented",
}
#: local send hour per channel
_SEND_HOUR = {"email": 10, "sms": 12, "push": 20, "social": 19, "paid_search": 0, "display": 0}
_CHANNEL_EFFECT = {"email": 1.0, "sms": 0.8, "push": 0.9, "social": 0.5, "paid_search": 0.0, "display": 0.0}
_PER_CONTACT_COST = {
    "email": 0.03,
    "sms": 0.06,
    "push": 0.01,
    "social": 0.0,
    "paid_search": 0.0,
    "display": 0.0,
}
_FIXED_COST = {
    "email": (3_000, 15_000),
    "sms": (2_000, 8_000),
    "push": (1_000, 5_000),
    "social": (20_000, 80_000),
    "paid_search": (50_000, 300_000),
    "display": (30_000, 200_000),
}


def _anchor_events(start: date, end: date) -> list[tuple[date, str]]:
    """Campaign-worthy dates in the history: (send date, event label)."""
    out: list[tuple[date, str]] = []
    for year in range(start.year, end.year + 1):
        nov1 = date(year, 11, 1)
        bf = nov1 + timedelta(days=(4 - nov1.weekday()) % 7 + 21)
        out += [
            (date(year, 1, 18), "Spring Festival"),
            (date(year, 2, 7), "Valentine's"),
            (date(year, 6, 8), "618"),
            (date(year, 8, 5), "Qixi"),
            (date(year, 9, 8), "Mid-Autumn"),
            (date(year, 11, 1), "Singles' Day"),
            (bf - timedelta(days=4), "Black Friday"),
            (date(year, 12, 10), "Christmas"),
        ]
    return [(d, label) for d, label in out if start <= d <= end]


_PLAIN_THEMES = (
    "Member Week",
    "Flash Deals",
    "New Arrivals",
    "Editor's Picks",
    "Weekend Deals",
    "Style Edit",
)


@dataclass(frozen=True)
class Campaigns:
    """The campaign calendar, in start order; arrays are aligned by campaign index."""

    campaign_id: np.ndarray
    name: np.ndarray
    channel: np.ndarray  # str
    objective: np.ndarray  # str
    target_segment: np.ndarray
    started_at: np.ndarray  # int64 UTC seconds (the send time for person-level channels)
    ended_at: np.ndarray
    cost_cents: np.ndarray
    discount_pct: np.ndarray
    window_days: np.ndarray
    effect: np.ndarray  # true effect multiplier on a person's uplift
    target_fraction: np.ndarray
    control_share: np.ndarray
    coupon_code: np.ndarray  # "" when no offer

    def __len__(self) -> int:
        return len(self.campaign_id)

    @property
    def person_level(self) -> np.ndarray:
        """Campaigns that contact identified persons (and so have touches and a control group)."""
        return np.isin(self.channel, ["email", "sms", "push", "social"])

    def table(self) -> pa.Table:
        """The ``campaigns`` landing table."""
        n = len(self)
        return pa.table(
            {
                "campaign_id": pa.array(self.campaign_id),
                "campaign_name": pa.array(self.name),
                "channel": pa.array(self.channel),
                "objective": pa.array(self.objective),
                "target_segment": pa.array(self.target_segment),
                "started_at": pa.array(self.started_at, pa.timestamp("s")),
                "ended_at": pa.array(self.ended_at, pa.timestamp("s")),
                "cost": money(self.cost_cents),
                "currency": pa.array(np.full(n, "CNY")),
                "discount_pct": pa.array(self.discount_pct, pa.float64()),
            }
        )


def make_campaigns(rng: np.random.Generator, start: date, end: date, n_customers: int) -> Campaigns:
    """About 40-56 campaigns per two years, half anchored on retail events.

    Every person-level campaign's response window closes before ``end`` so its whole effect
    is observable in the landing data.
    """
    history_days = (end - start).days + 1
    n = max(6, round(history_days / 730 * int(rng.integers(40, 57))))
    max_window = 30
    last_start = end - timedelta(days=max_window + 2)
    if last_start <= start:
        raise ValueError("the history must span more than a month to hold campaigns")
    anchors = _anchor_events(start, last_start)
    rows = []
    for _ in range(n):
        channel = str(rng.choice(CAMPAIGN_CHANNELS, p=_CHANNEL_WEIGHTS / _CHANNEL_WEIGHTS.sum()))
        objs, ow = _OBJECTIVE_BY_CHANNEL[channel]
        objective = str(rng.choice(objs, p=np.array(ow)))
        if anchors and rng.random() < 0.55:
            day, label = anchors[int(rng.integers(0, len(anchors)))]
        else:
            day = start + timedelta(days=int(rng.integers(0, (last_start - start).days + 1)))
            label = _PLAIN_THEMES[int(rng.integers(0, len(_PLAIN_THEMES)))]
        if objective == "winback":
            label = '"We Miss You", Come Back'
        window = int(rng.choice([7, 14, 21, 30]))
        if objective == "winback":
            disc = float(rng.choice([0.15, 0.2]))
        elif objective == "promotion":
            disc = float(rng.choice([0.0, 0.1, 0.15, 0.2, 0.3], p=[0.2, 0.3, 0.2, 0.2, 0.1]))
        elif objective == "retention":
            disc = float(rng.choice([0.0, 0.05], p=[0.6, 0.4]))
        else:
            disc = 0.0
        effect = 0.0 if rng.random() < 0.15 else float(rng.lognormal(0.0, 0.35))
        effect *= _CHANNEL_EFFECT[channel]
        send = to_epoch(day) - LOCAL_OFFSET_S + _SEND_HOUR[channel] * 3600
        person_level = channel in ("email", "sms", "push", "social")
        duration = window if person_level else int(rng.integers(14, 46))
        ended = min(send + duration * DAY_S, to_epoch(end) + DAY_S - 1)
        target_fraction = float(rng.uniform(0.3, 0.9)) if person_level else 0.0
        scale = n_customers / 1_000_000
        lo, hi = _FIXED_COST[channel]
        contacts = n_customers * target_fraction * 0.45
        cost = rng.uniform(lo, hi) * scale + _PER_CONTACT_COST[channel] * contacts
        control = float(rng.uniform(0.08, 0.12)) if person_level else 0.0
        rows.append(
            dict(
                channel=channel, objective=objective, label=label, year=day.year, send=send, ended=ended,
                cost=round(cost * 100), disc=disc, window=window, effect=effect,
                target_fraction=target_fraction, control=control,
            )
        )  # fmt: skip
    rows.sort(key=lambda r: (r["send"], r["channel"]))
    ids, names, coupons = [], [], []
    for i, r in enumerate(rows):
        cid = f"CMP{i + 1:04d}"
        ids.append(cid)
        obj_word = {"acquisition": "Reach", "retention": "Loyalty", "winback": "Winback", "promotion": "Sale"}
        names.append(f"{r['year']} {r['label']} {obj_word[r['objective']]} ({r['channel']})")
        coupons.append(f"C{i + 1:03d}SAVE{round(r['disc'] * 100)}" if r["disc"] > 0 else "")
    return Campaigns(
        campaign_id=np.array(ids),
        name=np.array(names, dtype=object),
        channel=np.array([r["channel"] for r in rows]),
        objective=np.array([r["objective"] for r in rows]),
        target_segment=np.array([_SEGMENT[r["objective"]] for r in rows]),
        started_at=np.array([r["send"] for r in rows], dtype=np.int64),
        ended_at=np.array([r["ended"] for r in rows], dtype=np.int64),
        cost_cents=np.array([r["cost"] for r in rows], dtype=np.int64),
        discount_pct=np.array([r["disc"] for r in rows]),
        window_days=np.array([r["window"] for r in rows], dtype=np.int64),
        effect=np.array([r["effect"] for r in rows]),
        target_fraction=np.array([r["target_fraction"] for r in rows]),
        control_share=np.array([r["control"] for r in rows]),
        coupon_code=np.array(coupons),
    )
