"""dbconn/produced.py: a page's typed error lines against what the build's runs printed."""

from pathlib import Path

from dbconn import produced

PAGE = '''---
search_weight: "0.25"
---

# 2006: MySQL server has gone away

```text
pymysql.err.OperationalError: (2006, "MySQL server has gone away (ConnectionResetError(104, 'Connection reset by peer'))")
MySQLdb.OperationalError: (2006, 'Server has gone away')             (mysqlclient on libmariadb)
sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2006, "MySQL server has gone away ...")
```

Text.

```text
not a header line
```
'''


def test_header_lines_are_the_block_under_the_title_without_annotations():
    assert produced.header_lines(PAGE) == [
        """pymysql.err.OperationalError: (2006, "MySQL server has gone away (ConnectionResetError(104, 'Connection reset by peer'))")""",
        "MySQLdb.OperationalError: (2006, 'Server has gone away')",
        'sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2006, "MySQL server has gone away ...")',
    ]
    assert produced.header_lines("# A page\n\nNo error lines.\n") == []


def test_host_port_and_os_error_details_may_differ():
    typed = ("mysql.connector.errors.OperationalError: 2055: Lost connection to MySQL server at '127.0.0.1:3307', "
             "system error: Errno 32: Broken pipe")
    printed = ("mysql.connector.errors.OperationalError: 2055: Lost connection to MySQL server at '127.0.0.1:3312', "
               "system error: 104: Connection reset by peer")
    assert produced.was_produced(typed, produced.produced_lines([printed]))
    reset = """OperationalError: (2006, "MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))")"""
    assert produced.was_produced(produced.header_lines(PAGE)[0], produced.produced_lines([reset]))


def test_interleaving_counts_pool_sizes_and_a_printed_repr_may_differ():
    printed = produced.produced_lines([
        "InternalError: Packet sequence number wrong - got 57 expected 42",
        "TimeoutError: QueuePool limit of size 2 overflow 1 reached, connection timed out, timeout 0.50 "
        "(Background on this error at: https://sqlalche.me/e/21/3o7r)",
        "task 2 got: InvalidRequestError('This session is provisioning a new connection')",
    ])
    assert produced.was_produced("pymysql.err.InternalError: Packet sequence number wrong - got 1 expected 2", printed)
    assert produced.was_produced("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, "
                                 "connection timed out, timeout 30.00 (Background on this error at: "
                                 "https://sqlalche.me/e/21/3o7r)", printed)
    assert not produced.was_produced("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, "
                                     "connection timed out, timeout 30.00 (Background on this error at: "
                                     "https://sqlalche.me/e/20/3o7r)", printed), "another SQLAlchemy's link"
    assert produced.was_produced("sqlalchemy.exc.InvalidRequestError: This session is provisioning a new connection",
                                 printed)


def test_anything_else_must_be_what_was_printed():
    lines = produced.produced_lines(["OperationalError: (2006, 'MySQL server has gone away')"])
    assert not produced.was_produced("pymysql.err.OperationalError: (2006, 'Server has gone away')", lines)
    assert not produced.was_produced("pymysql.err.OperationalError: (2013, 'MySQL server has gone away')", lines)
    assert not produced.was_produced("MySQLdb.InterfaceError: (2006, 'MySQL server has gone away')", lines)
    assert produced.was_produced("pymysql.err.OperationalError: (2006, 'MySQL server ...')", lines)


def test_a_page_typing_a_line_no_run_printed_is_named(tmp_path: Path):
    source, site = tmp_path / "src", tmp_path / "site"
    (source / "docs" / "errors").mkdir(parents=True)
    (site / "notebooks").mkdir(parents=True)
    (source / "docs" / "errors" / "2006.md").write_text(PAGE)
    (site / "notebooks" / "n.html").write_text(
        "<pre>OperationalError: (2006, &quot;MySQL server has gone away (ConnectionResetError(104, "
        "'Connection reset by peer'))&quot;)</pre>\n<p><code>MySQLdb.OperationalError: (2006, 'Server has gone away')"
        "</code></p>")
    assert produced.unproduced(source, site) == [
        ("docs/errors/2006", 'sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) '
                             '(2006, "MySQL server has gone away ...")')]
