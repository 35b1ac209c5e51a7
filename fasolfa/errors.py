"""The error policy of fasolfa, and its one exception type for problems a user can fix.

Two kinds of mistakes, two kinds of errors:

* **what a user can get wrong** — a missing, corrupt or unreadable file, a CSV without the
  columns it needs, a soundfont that is not installed, an out-of-range command-line option —
  raises :class:`FasolfaError`. Its message is one line that names the file (or the option) and
  the problem, and says how to fix it when that is not obvious. The command line prints it as
  ``fasolfa: error: <message>`` and exits with status 1, without a traceback; no half-written
  output file is left behind (see :mod:`fasolfa.atomic`).
* **what a programmer gets wrong** — an array of the wrong shape or dtype, an argument out of
  its documented range in a function call, a wrong type — raises the standard ``ValueError``
  or ``TypeError`` with a message that gives the expected and the actual value. These are bugs
  in the calling code, and a traceback is what its author needs.

A value that can reach a library function straight from the user (a command-line option, a
field of a data file) is checked where it enters (the CLI, the file reader) and reported there
as a :class:`FasolfaError`, so that the library underneath may treat it as a programming error.
"""


class FasolfaError(Exception):
    """A user-facing problem. ``str(error)`` is one line that names the file and the problem.

    The CLI prints it as ``fasolfa: error: <message>`` and exits non-zero, without a traceback.
    """
