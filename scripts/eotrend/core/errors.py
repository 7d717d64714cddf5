"""Errors a user can act on.

An :class:`InputError` (or :class:`OutputError`) names the file, says what is wrong with it
and what to do; entry scripts print it as one line without a traceback. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from os import PathLike


class EotrendError(Exception):
    """Base class of the errors eotrend reports to users as a plain message."""


class InputError(EotrendError):
    """A bad input file, setting or argument.

    Args:
        path: the file or setting at fault (shown first).
        problem: what is wrong with it.
        hint: what the user should do about it.
    """

    def __init__(self, path: str | PathLike[str] | None, problem: str, hint: str = "") -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.hint = hint
        text = f"{self.path}: {problem}" if self.path else problem
        if not text.endswith((".", "!", "?")):
            text += "."
        # Never replace ".." in the text: paths such as ../data/x.tif must stay as given.
        super().__init__(f"{text} {hint}" if hint else text)

    def __reduce__(self):
        # Rebuilt from its own arguments when it travels back from a worker process.
        return (type(self), (self.path, self.problem, self.hint))


class OutputError(InputError):
    """An output that cannot be written: a full disk, a quota, a read-only folder.

    Args:
        path: the file that could not be written (shown first).
        problem: why.
        hint: what the user should do about it.
    """
