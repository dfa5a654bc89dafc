"""The one exception type raised for problems a user can fix."""


class AutosegError(Exception):
    """A problem with the user's input, data or settings.

    The message names the offending file or value and says how to fix it.
    The CLI prints it without a traceback and exits with status 2.
    """
