"""Tables of one's own, with many rows, for the lab's large-result scenarios.
Each call makes a new table, so runs at the same time never share one."""

from __future__ import annotations

import secrets

from .connection import connect

# Five copies of ten digits make 100,000 numbers: no recursion limits (MySQL's
# cte_max_recursion_depth is 1000), the same SQL on MySQL 8 and MariaDB 10.
_NUMBERS = """
    WITH digits AS (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                    UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7
                    UNION ALL SELECT 8 UNION ALL SELECT 9)
    SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS n
    FROM digits a, digits b, digits c, digits e, digits f
"""


def numbered_table(prefix: str = "rows", rows: int = 100_000, payload_bytes: int = 200) -> str:
    """Create a table `prefix_xxxxxx` (id 1..rows, a payload of payload_bytes) and return its name."""
    if not 1 <= rows <= 100_000:
        raise ValueError("rows must be between 1 and 100,000")
    name = f"{prefix}_{secrets.token_hex(3)}"
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}` (id INT PRIMARY KEY, payload VARCHAR(1000) NOT NULL)")
        cur.execute(
            f"INSERT INTO `{name}` (id, payload) SELECT n, REPEAT('x', %s) FROM ({_NUMBERS}) numbers WHERE n <= %s",
            (payload_bytes, rows),
        )
        conn.commit()
    return name


def drop_table(name: str) -> None:
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{name}`")
