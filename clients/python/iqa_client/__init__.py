"""Python client of the IQA sidecar and the GPU lease broker (standard library only).

* :class:`IqaClient`: scores images through the sidecar, with a per-image cache (the Java client's
  ``iqa-scores.jsonl`` format, so both can share a folder) and a one-shot container fallback under a
  GPU lease when the sidecar is unreachable.
* :class:`LeaseClient`: GPU leases with the Java client's holder rules (renew at ttl/3 before the
  holder's own deadline, revocations heard on the watch channel, release on exit).
"""
from .client import Fallback, IqaClient, ScoreResult
from .errors import IqaError, LeaseLost, LocalFileError
from .lease import Lease, LeaseClient, LeaseRules, Loss

__all__ = ["Fallback", "IqaClient", "ScoreResult", "IqaError", "LeaseLost", "LocalFileError", "Lease", "LeaseClient",
           "LeaseRules", "Loss"]
