"""The CDNOW transaction log as c360 landing files, so the pipeline runs on real customers.

CDNOW (Fader & Hardie's standard CLV data set): 23,570 customers who first bought in Q1
1997, every purchase to June 1998, with the number of CDs and the dollar value. Each
purchase becomes one ``shop_orders`` order with one line (product ``CDNOW-CD``, its unit cost an
assumed 70 % of list price, since CDNOW has no costs); the
customer id becomes the shop ``account_id``, which identity resolution links on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from orchestration.contracts import SOURCES

log = logging.getLogger(__name__)

DEFAULT_SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"


def write_cdnow_landing(source: Path, landing_dir: Path) -> int:
    """Write ``shop_orders`` and ``products`` landing CSVs from the CDNOW master file; returns orders."""
    if not source.is_file():
        raise FileNotFoundError(f"CDNOW master file not found at {source}")
    (landing_dir / "shop_orders").mkdir(parents=True, exist_ok=True)
    (landing_dir / "products").mkdir(parents=True, exist_ok=True)
    columns = SOURCES["shop_orders"].column_names
    con = duckdb.connect()
    # The file is whitespace-aligned with a header and CRLF line ends; the same customer may
    # buy twice on one day (two rows), so the order id carries the row's position.
    con.execute(
        "create table cdnow as select row_number() over () as n, trim(column0) as customer_id, "
        "strptime(trim(column1), '%Y%m%d') as ordered_at, trim(column2)::integer as cds, "
        "trim(column3)::decimal(18, 2) as dollars "
        "from read_csv($src, header = false, skip = 1, delim = '|', columns = {'column_all': 'VARCHAR'}, "
        "auto_detect = false) as t(line), lateral (select regexp_split_to_array(trim(line), '\\s+') as f) "
        "cross join lateral (select f[1] as column0, f[2] as column1, f[3] as column2, f[4] as column3)",
        {"src": str(source)},
    )
    values = {
        "order_id": "'CDNOW-' || lpad(n::varchar, 6, '0')",
        "line_number": "1",
        "ordered_at": "strftime(ordered_at + interval 12 hour, '%Y-%m-%d %H:%M:%S')",
        "sales_channel": "'web'",
        "account_id": "'CDNOW-' || customer_id",
        "product_id": "'CDNOW-CD'",
        # One line worth the purchase's dollar value: revenue stays exact to the cent (the
        # CLV literature's monetary value); the number of CDs has no place in the contract.
        "quantity": "1",
        "unit_price": "dollars",
        "discount_amount": "0",
        "currency": "'USD'",
        "order_status": "'completed'",
    }
    select = ", ".join(f"{values.get(c, 'null')} as {c}" for c in columns)
    out = landing_dir / "shop_orders" / "cdnow_master.csv"
    target = str(out).replace("'", "''")
    con.execute(f"copy (select {select} from cdnow order by n) to '{target}' (header, delimiter ',')")
    (landing_dir / "products" / "cdnow_products.csv").write_text(
        ",".join(SOURCES["products"].column_names) + "\nCDNOW-CD,Compact disc,music,15.00,10.50,USD\n"
    )
    orders = con.execute("select count(*) from cdnow").fetchone()[0]
    log.info("wrote %s CDNOW orders to %s", orders, out)
    return int(orders)
