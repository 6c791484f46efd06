"""Named failures: the workflow records a failure as 'Name: reason' (failureReason, lastBenchmarkFailure),
and the API answers each with its status code."""


class NeuronLabError(Exception):
    """Base class: a failure the workflow reports by name with a readable reason."""


class InvalidRequest(NeuronLabError):
    """The input breaks a rule (the message names the field and the rule)."""


class LimitExceeded(NeuronLabError):
    """A deployment limit (MaxRunningEnvironments, AllowedInstanceTypes, MaxBenchmarkSeconds) refuses the request."""


class NotOwner(NeuronLabError):
    """The caller is neither the environment's owner nor an admin (AdminPrincipals)."""


class ImageNotFound(NeuronLabError):
    """The container image tag or digest is not in ECR."""


class StackFailed(NeuronLabError):
    """The environment stack ended in a failed or rolled-back state."""


class StackTimeout(NeuronLabError):
    """The environment stack did not settle before its deadline."""


class NotebookUnhealthy(NeuronLabError):
    """JupyterLab did not answer /api/status with the token before its deadline."""


class BenchmarkFailed(NeuronLabError):
    """The benchmark task failed, crashed or produced an incorrect result."""


class EnvironmentConflict(NeuronLabError):
    """The environment record is not in the state this transition expects."""

    def __init__(self, message: str, state: str = "") -> None:
        super().__init__(message)
        self.state = state


class EnvironmentNotFound(NeuronLabError):
    """No environment record with that name."""


class WorkflowNotStarted(NeuronLabError):
    """Step Functions refused to start the workflow; the record is FAILED with the reason."""


class CapacityUnavailable(NeuronLabError):
    """No AZ of the shared network offers the instance type, or every one of them lacks capacity."""


class InvalidWorkflowState(NeuronLabError):
    """A step got a state document of the wrong shape (a defect of the API or the state machine, not of input)."""


class AlreadyRecorded(NeuronLabError):
    """An imported run is already in the benchmark history (same series, start time and run id)."""


class RunNotFound(NeuronLabError):
    """No run in the benchmark history with that run id."""
