"""Personal identifiers: how they are minted, how channels garble them, how they normalise.

The identity graph downstream links records through identifiers, so the simulator has to
produce the kinds of mess real channels produce (case and whitespace in e-mails, four phone
spellings, shared household e-mails, store tablets used by many people, placeholder junk)
while keeping an exact ground truth of which normalised value belongs to whom.

Normalised forms (the same rules the pipeline's staging applies):

* e-mail: ``lower(trim(x))``
* phone: keep digits; strip a leading ``0086`` or ``86`` when that leaves 11 digits;
  the result is ``+86`` followed by the 11 digits (anything else is not a valid phone).
* every other identifier: the value as written (they carry no noise).

All generation is vectorised with numpy / pyarrow compute; nothing loops per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

IDENTIFIER_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "device_id",
    "cookie_id",
    "account_id",
    "loyalty_card_number",
    "open_id",
    "member_id",
)

#: Placeholder values typed by cashiers, testers and forms; they must never link people.
JUNK_EMAILS: tuple[str, ...] = ("test@test.com", "unknown")
JUNK_PHONES: tuple[str, ...] = ("00000000000", "13800000000")
JUNK_DEVICES: tuple[str, ...] = ("unknown",)


def scramble(x: np.ndarray, modulus: int, multiplier: int, avoid_zero: bool = True) -> np.ndarray:
    """Bijective affine permutation of ``[0, modulus)``: unique, random-looking numbers.

    Identifiers derived from a global running index through a permutation are unique by
    construction (no accidental collisions between people) yet do not reveal the index.
    With ``avoid_zero`` the offset is chosen so that only ``modulus - 1`` maps to 0, which
    keeps all-zero tails (the junk ``13800000000``) unreachable for realistic index ranges.
    """
    if multiplier * modulus >= 2**62:
        raise ValueError("multiplier * modulus must fit in int64")
    x = np.asarray(x, dtype=np.int64) % modulus
    offset = (-multiplier * (modulus - 1)) % modulus if avoid_zero else 0
    return (x * multiplier + offset) % modulus


def digits(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of non-negative integers."""
    return pc.utf8_lpad(pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string()), width, "0")


def prefixed(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    """``prefix`` followed by zero-padded integers, e.g. ``O000100001234``."""
    return pc.binary_join_element_wise(prefix, digits(values, width), "")


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise string concatenation of arrays and scalars."""
    return pc.binary_join_element_wise(*parts, sep)


def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` with -1 meaning null."""
    idx = np.asarray(idx, dtype=np.int64)
    mask = idx < 0
    if mask.any():
        return values.take(pa.array(np.where(mask, 0, idx), mask=mask))
    return values.take(pa.array(idx))


def hex_tokens(rng: np.random.Generator, n: int, groups: tuple[int, ...], upper: bool = False) -> pa.Array:
    """Random hexadecimal tokens in dash-separated groups (UUID shape for (8, 4, 4, 4, 12))."""
    alphabet = np.array(list("0123456789ABCDEF" if upper else "0123456789abcdef"))
    total = sum(groups)
    chars = alphabet[rng.integers(0, 16, size=(n, total))]
    pieces = []
    start = 0
    for g in groups:
        pieces.append(chars[:, start : start + g])
        start += g
        if start < total:
            pieces.append(np.full((n, 1), "-"))
    block = np.ascontiguousarray(np.concatenate(pieces, axis=1))
    width = block.shape[1]
    return pa.array(block.view(f"<U{width}").reshape(n) if n else np.array([], dtype=f"<U{width}"))


def base64ish_tokens(rng: np.random.Generator, n: int, prefix: str, length: int) -> pa.Array:
    """WeChat-style open ids: a prefix plus url-safe base64 characters."""
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    chars = np.ascontiguousarray(alphabet[rng.integers(0, 64, size=(n, length))])
    body = chars.view(f"<U{length}").reshape(n) if n else np.array([], dtype=f"<U{length}")
    return join(prefix, pa.array(body))


# --------------------------------------------------------------------------- normalisation


def normalise_email(values: pa.Array) -> pa.Array:
    """``lower(trim(x))``; null stays null."""
    return pc.utf8_lower(pc.utf8_trim_whitespace(values))


def normalise_phone(values: pa.Array) -> pa.Array:
    """Digits only, ``0086``/``86`` country prefix dropped when 11 digits remain, ``+86`` prefix.

    Values that do not reduce to 11 digits become null (not a usable phone).
    """
    d = pc.replace_substring_regex(values, r"[^0-9]", "")
    d = pc.if_else(
        pc.and_(pc.equal(pc.utf8_length(d), 15), pc.starts_with(d, "0086")),
        pc.utf8_slice_codeunits(d, 4),
        d,
    )
    d = pc.if_else(
        pc.and_(pc.equal(pc.utf8_length(d), 13), pc.starts_with(d, "86")), pc.utf8_slice_codeunits(d, 2), d
    )
    ok = pc.equal(pc.utf8_length(d), 11)
    return pc.if_else(ok, join("+86", d), pa.scalar(None, pa.string()))


def normalise_email_value(value: str | None) -> str | None:
    """Scalar reference implementation of :func:`normalise_email` (used in tests and docs)."""
    return None if value is None else value.strip().lower()


def normalise_phone_value(value: str | None) -> str | None:
    """Scalar reference implementation of :func:`normalise_phone`."""
    if value is None:
        return None
    d = re.sub(r"[^0-9]", "", value)
    if len(d) == 15 and d.startswith("0086"):
        d = d[4:]
    elif len(d) == 13 and d.startswith("86"):
        d = d[2:]
    return "+86" + d if len(d) == 11 else None


# --------------------------------------------------------------------------- noise


def uniforms(rng: np.random.Generator, n: int, key: np.ndarray | None, salt: int = 0) -> np.ndarray:
    """Per-row uniforms; with ``key`` the same key always gets the same number.

    Systems of record (an e-mail service's list, an SMS gateway, the CRM) store one spelling
    per person and repeat it on every row, while a form typed by hand varies row by row.
    Keyed uniforms give the first behaviour without any per-person state.
    """
    if key is None:
        return rng.random(n)
    salt_v = np.uint64(int(rng.integers(0, 2**63)) + salt)
    with np.errstate(over="ignore"):
        h = (np.asarray(key, dtype=np.uint64) + salt_v) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def noisy_email(
    values: pa.Array,
    rng: np.random.Generator,
    case_rate: float,
    space_rate: float,
    key: np.ndarray | None = None,
) -> pa.Array:
    """Apply the e-mail garbling real forms produce: capitalised, upper-cased, padded."""
    n = len(values)
    if n == 0:
        return values
    u = uniforms(rng, n, key)
    out = values
    cap = u < case_rate * 0.7
    upper = (u >= case_rate * 0.7) & (u < case_rate)
    if cap.any():
        out = pc.if_else(pa.array(cap), pc.utf8_capitalize(out), out)
    if upper.any():
        out = pc.if_else(pa.array(upper), pc.utf8_upper(out), out)
    v = uniforms(rng, n, key, salt=1)
    lead = v < space_rate * 0.5
    trail = (v >= space_rate * 0.5) & (v < space_rate)
    if lead.any():
        out = pc.if_else(pa.array(lead), join(" ", out), out)
    if trail.any():
        out = pc.if_else(pa.array(trail), join(out, "  "), out)
    return out


#: phone spellings: plain, "+86 138 0013 8000", "0086-13800138000", "138-0013-8000", "+8613800138000"
PHONE_FORMATS: tuple[str, ...] = ("plain", "intl_spaced", "intl_0086", "dashed", "intl_compact")


def format_phones(
    values: pa.Array, rng: np.random.Generator, weights: tuple[float, ...], key: np.ndarray | None = None
) -> pa.Array:
    """Spell canonical 11-digit mobiles in a random format (weights over PHONE_FORMATS).

    The format is drawn per row, or per ``key`` (for systems that store one spelling).
    """
    n = len(values)
    if n == 0:
        return values
    w = np.asarray(weights, dtype=float)
    cum = np.cumsum(w / w.sum())
    choice = np.minimum(np.searchsorted(cum, uniforms(rng, n, key), side="right"), len(w) - 1).astype(np.int8)
    a = pc.utf8_slice_codeunits(values, 0, 3)
    b = pc.utf8_slice_codeunits(values, 3, 7)
    c = pc.utf8_slice_codeunits(values, 7, 11)
    variants = [
        values,
        join("+86 ", a, " ", b, " ", c),
        join("0086-", values),
        join(a, "-", b, "-", c),
        join("+86", values),
    ]
    return pc.choose(pa.array(choice), *variants)


# --------------------------------------------------------------------------- registry


@dataclass
class Registry:
    """All values of one identifier type minted for the persons of a chunk.

    Entries are addressed by index; landing rows reference entries, so we know exactly which
    person a written value belongs to. ``used`` marks entries that appeared in at least one
    valid landing row: only those go to ground truth (an identifier nobody ever saw cannot be
    linked and is not part of the truth the identity graph should recover).
    """

    kind: str
    owner: np.ndarray  # local person index per entry
    canonical: pa.Array  # clean spelling (phones: 11 digits)
    normalised: pa.Array
    used: np.ndarray = field(init=False)
    extra_values: list[pa.Array] = field(default_factory=list)
    extra_owners: list[np.ndarray] = field(default_factory=list)
    extra_junk: list[bool] = field(default_factory=list)
    extra_shared: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.used = np.zeros(len(self.owner), dtype=bool)

    def __len__(self) -> int:
        return len(self.owner)

    def mark(self, entries: np.ndarray) -> None:
        """Record that these entries were written in valid rows (-1 ignored)."""
        e = entries[entries >= 0]
        self.used[e] = True

    def add_pairs(self, normalised: pa.Array, owners: np.ndarray, *, junk: bool, shared: bool) -> None:
        """Record values outside the registry (junk placeholders, shared store tablets)."""
        if len(owners):
            self.extra_values.append(normalised)
            self.extra_owners.append(np.asarray(owners, dtype=np.int64))
            self.extra_junk.append(junk)
            self.extra_shared.append(shared)

    def render(
        self,
        entries: np.ndarray,
        rng: np.random.Generator,
        persons: np.ndarray,
        *,
        email_noise: tuple[float, float] | None = None,
        phone_weights: tuple[float, ...] | None = None,
        junk: tuple[str, ...] = (),
        junk_rate: float = 0.0,
        consistent: bool = False,
    ) -> pa.Array:
        """Landing values for rows pointing at ``entries`` (-1 = null), with channel noise.

        A ``junk_rate`` share of non-null values is replaced by placeholder junk; those rows
        record a (junk value, person) pair instead of marking the real entry as used. With
        ``consistent`` the noise is a function of the entry, so a value is always spelled the
        same way in this source.
        """
        entries = np.asarray(entries, dtype=np.int64)
        n = len(entries)
        junk_mask = np.zeros(n, dtype=bool)
        if junk and junk_rate > 0 and n:
            junk_mask = (rng.random(n) < junk_rate) & (entries >= 0)
        real = np.where(junk_mask, -1, entries)
        self.mark(real)
        values = take(self.canonical, real)
        key = np.maximum(real, 0) if consistent else None
        if email_noise is not None:
            values = noisy_email(values, rng, *email_noise, key=key)
        if phone_weights is not None:
            values = format_phones(values, rng, phone_weights, key=key)
        if junk_mask.any():
            k = int(junk_mask.sum())
            j = pa.array(np.array(junk)[rng.integers(0, len(junk), k)])
            full = np.zeros(n, dtype=np.int64)
            full[junk_mask] = np.arange(k)
            values = pc.if_else(pa.array(junk_mask), j.take(pa.array(full)), values)
            norm = normalise_phone(j) if self.kind == "phone" else normalise_email(j)
            self.add_pairs(norm, persons[junk_mask], junk=True, shared=False)
        return values

    def truth(self, person_ids: np.ndarray) -> pa.Table:
        """Ground-truth pairs (type, normalised value, person, junk, shared-by-design), deduplicated.

        ``shared_by_design`` marks values known to be shared across chunks (store tablets);
        the caller adds values that several persons of the chunk carry (household e-mails).
        """
        idx = np.flatnonzero(self.used)
        values = [self.normalised.take(pa.array(idx))]
        owners = [self.owner[idx]]
        junk_flags = [np.zeros(len(idx), dtype=bool)]
        shared_flags = [np.zeros(len(idx), dtype=bool)]
        for v, o, j, s in zip(
            self.extra_values, self.extra_owners, self.extra_junk, self.extra_shared, strict=True
        ):
            values.append(v)
            owners.append(o)
            junk_flags.append(np.full(len(o), j))
            shared_flags.append(np.full(len(o), s))
        owner = np.concatenate(owners)
        table = pa.table(
            {
                "identifier_type": pa.array(np.full(len(owner), self.kind)),
                "identifier_value": pa.concat_arrays([v.cast(pa.string()) for v in values]),
                "person_id": pa.array(person_ids[owner]),
                "is_junk": pa.array(np.concatenate(junk_flags)),
                "shared_by_design": pa.array(np.concatenate(shared_flags)),
            }
        )
        table = table.filter(pc.is_valid(table["identifier_value"]))
        keys = ["identifier_type", "identifier_value", "person_id", "is_junk", "shared_by_design"]
        return table.group_by(keys, use_threads=False).aggregate([])
