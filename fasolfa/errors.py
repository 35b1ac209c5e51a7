"""The one exception type for problems a user can fix (bad input, missing soundfont, ...)."""


class FasolfaError(Exception):
    """A user-facing problem. ``str(error)`` is one line that names the file and the problem.

    The CLI prints it as ``fasolfa: error: <message>`` and exits non-zero, without a traceback.
    """
