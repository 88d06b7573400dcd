"""The notebook rules live in dbconn.notebooks (the site build runs them too); the tests
import them from here."""

from dbconn.notebooks import error_code, execute, read, run_notebook  # noqa: F401
