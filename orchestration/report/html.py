"""The HTML page: one file, inline CSS, images as data URLs, nothing fetched from anywhere.

A marketer opens it from a mail attachment or a shared drive, often offline, so the page
must not reference a font, script, stylesheet or image by URL. Everything is escaped:
segment and campaign names come from data.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import pandas as pd

CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; margin: 0; color: #222;
       background: #f6f7f9; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 6px; padding-top: 12px; border-top: 1px solid #e3e6ea; }
p.lede, p.intro { color: #555; margin: 4px 0 12px; }
nav { font-size: 13px; margin: 12px 0 8px; line-height: 1.8; }
nav a { color: #4e79a7; margin-right: 14px; text-decoration: none; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.kpi { flex: 1 1 150px; background: #f0f4f8; border-radius: 6px; padding: 10px 14px; }
.kpi .v { font-size: 22px; font-weight: 600; }
.kpi .l { font-size: 12px; color: #555; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0 4px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e6ea; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f4f8; }
.na { background: #fff7e6; border-left: 4px solid #f28e2b; padding: 10px 14px; color: #6b4a12; }
footer { margin-top: 40px; font-size: 12px; color: #777; }
"""


def image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def not_available(text: str) -> str:
    return f'<div class="na"><strong>Not available yet.</strong> {html.escape(text)}</div>'


def kpis(items: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<div class="kpi"><div class="v">{html.escape(v)}</div><div class="l">{html.escape(label)}</div></div>'
        for label, v in items
    )
    return f'<div class="kpis">{cells}</div>'


def table(frame: pd.DataFrame, formats: dict[str, str] | None = None, max_rows: int = 30) -> str:
    """A plain HTML table; ``formats`` maps a column to a format spec such as ``"{:,.0f}"``."""
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.head(max_rows).itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, record, strict=True):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                text = ""
            elif col in formats:
                text = formats[col].format(value)
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, lede: str, sections: Sequence[tuple[str, str, str, str]], footer: str) -> str:
    """The whole document; ``sections`` are (anchor, title, intro, body html)."""
    nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _, _ in sections)
    body = "".join(
        f'<section id="{a}"><h2>{html.escape(t)}</h2><p class="intro">{html.escape(i)}</p>{b}</section>'
        for a, t, i, b in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # a Content-Security-Policy that forbids every network fetch: images only as data URLs
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1><p class=\"lede\">{html.escape(lede)}</p>"
        f"<nav>{nav}</nav>{body}<footer>{html.escape(footer)}</footer></main></body></html>\n"
    )
