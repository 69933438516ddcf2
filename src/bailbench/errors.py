"""The one exception type for mistakes in what the user asked for."""


class UserError(Exception):
    """A problem with the user's input. The CLI prints it as one line and exits 2.

    The message names the problem and the fix, e.g.
    "unknown method 'tol': choose from tool, string, ...".
    """


class ServiceError(Exception):
    """A model server kept failing after retries. The CLI prints it as one line and exits 1;
    finished samples are stored, so rerunning the same command resumes."""


# A steered number is never shown without its controls, and only `run` runs them (mechanism/controls.py).
STEER_ON_RUN_ONLY = ("--steer runs with its controls on `bailbench run` only; steer a prompt run, or drop --steer "
                     "here")
