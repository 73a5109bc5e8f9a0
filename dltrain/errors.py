"""The one exception type for user mistakes.

A ``UserError`` reaches the console as its message alone (no traceback) and
the process exits with status 2. Its message names the problem and the fix.
"""


class UserError(Exception):
    """A mistake the user can fix: bad config, missing data, corrupt checkpoint."""
