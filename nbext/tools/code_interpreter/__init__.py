"""code_interpreter: run a thread's Python in a sandboxed Jupyter kernel.

The Assistants runtime calls :class:`CodeInterpreter`; one IPython kernel per
thread, started on first use, stopped when idle. Layout: ``manager`` (threads
to kernels), ``kernel`` (one kernel, limits on one execution), ``sandbox``
(OS isolation and limits), ``workdir`` (files in and out), ``result``.

What is isolated, and how (measured as root on Linux 6.x, see the tests):

* **Secrets** - always. The kernel's environment is built from an allowlist
  (PATH, HOME=workdir, LANG, MPLBACKEND, cache dirs...); nothing of the
  server's environment (``OPENAI_API_KEY``, ``NBEXT_*``, proxies) is passed.
* **User** - when the server runs as root: each kernel runs as its own
  unprivileged uid from a high unused range (no passwd entry), with no
  supplementary groups and ``no_new_privs``. It cannot read root-only files
  (``/root``, the server's database if 0600) nor other threads' 0700
  working directories. Not as a normal user: kernels then share its uid.
* **Network** - when ``unshare(CLONE_NEWNET)`` is permitted (root, or a
  user namespace allowing it): the kernel gets an empty network namespace
  with only its own loopback; nothing on the host, not even the host's
  127.0.0.1, is reachable. Otherwise no network isolation (noted in
  ``CodeInterpreter.isolation``).
* **Filesystem view** - when ``unshare(CLONE_NEWNS)`` is permitted: the
  workdir is bind-mounted at ``/mnt/data`` (cwd and ``HOME``) in a private
  mount namespace over a tmpfs ``/mnt``; nothing propagates to the host. The
  rest of the filesystem is the host's, seen with the sandbox uid's rights.
* **Processes** - RLIMIT_NPROC on the sandbox uid (processes + threads); a
  fork bomb hits it, then every process of the uid is killed in one
  ``kill(-1)`` sweep and the kernel restarts. As a normal user RLIMIT_NPROC
  counts all of that user's tasks, so the limit is set to "current + N" and
  is only approximate.
* **Memory, CPU, file size** - RLIMIT_AS, RLIMIT_CPU (re-armed per
  execution with ``prlimit``), RLIMIT_FSIZE, no core dumps; everywhere.
* **Time and output** - wall-clock limit per execution (interrupt, then
  restart); logs, images and returned files are capped.

Not isolated: the filesystem is the host's (read access to world-readable
files such as the installed packages; write access to world-writable
``/tmp``, ``/dev/shm``); disk usage beyond one file's size; CPU share (no
cgroups); IPC/PID namespaces (the kernel can see other processes in
``/proc``). Run the server in a container for those.
"""

from nbext.tools.code_interpreter.kernel import KernelStartError
from nbext.tools.code_interpreter.manager import CodeInterpreter
from nbext.tools.code_interpreter.result import ExecutionResult, OutputFile, Status
from nbext.tools.code_interpreter.sandbox import Isolation, Limits

__all__ = [
    "CodeInterpreter",
    "ExecutionResult",
    "Isolation",
    "KernelStartError",
    "Limits",
    "OutputFile",
    "Status",
]
