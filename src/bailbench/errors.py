"""The one exception type for mistakes in what the user asked for."""


class UserError(Exception):
    """A problem with the user's input. The CLI prints it as one line and exits 2.

    The message names the problem and the fix, e.g.
    "unknown method 'tol': choose from tool, string, ...".
    """


class ServiceError(Exception):
    """A model server kept failing after retries. The CLI prints it as one line and exits 1;
    finished samples are stored, so rerunning the same command resumes."""
