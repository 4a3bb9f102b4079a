"""What a person may do to the station and its jobs, one function per action: the command line
(cli.py) and the web app (DESIGN.md section 9) both call these, and nothing else decides.

Each takes the station's Config (and opens its spool and database itself), returns a typed
result (a dataclass) and refuses with a BurnerError subclass whose words say what is wrong and
whose `code` (errors.Reason) says what kind of problem it is: NoSuchJob for a job that is not
there, JobRejected (BAD_REQUEST) for an action that does not fit the job's state, ConfigError
for a wrong configuration. Nothing here prints or exits: cli.main turns errors into exit codes.

Modules, one concern each:
- intake: submit, approve
- control: retry, cancel, adopt
- overview: status (= `burner status --json`), job (one job of it), drives, verify
- prints: reprint
- upkeep: init, cleanup, recover
`burner build` is burner.build.build_job.
"""

from __future__ import annotations

from burner.operations.control import Adopted, Cancelled, Retried, adopt, cancel, retry
from burner.operations.intake import Approved, Submitted, approve, submit
from burner.operations.overview import Drives, JobInfo, Status, drives, job, status, verify
from burner.operations.prints import Reprinted, Sent, reprint
from burner.operations.upkeep import Cleaned, Initialised, Recovered, cleanup, init, recover

__all__ = ["Adopted", "Approved", "Cancelled", "Cleaned", "Drives", "Initialised", "JobInfo",
           "Recovered", "Reprinted", "Retried", "Sent", "Status", "Submitted", "adopt",
           "approve", "cancel", "cleanup", "drives", "init", "job", "recover", "reprint", "retry",
           "status", "submit", "verify"]
