"""The one error type users see: a one-line message naming the file and the fix."""


class LiteError(Exception):
    """A user-facing failure. The CLI prints `error: <message>` and exits 2."""

    exit_code = 2
