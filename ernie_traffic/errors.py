"""The one error type users see.

Every problem caused by the user's input (a file, a name, a config value) is raised as
:class:`UserInputError` whose message names the offending file or value and says what
is wrong, one line per problem. The CLI prints each line as ``error: <line>`` and exits
with status 2, without a traceback unless ``--debug`` is given.
"""


class UserInputError(Exception):
    """A problem with the user's input; ``str(error)`` is one line per problem."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
