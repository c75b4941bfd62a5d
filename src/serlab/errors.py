"""The one exception class for mistakes a user can fix (config, data, command line)."""


class UserError(Exception):
    """A user's mistake; its message is one line naming the key or file, what is wrong and what to do."""
