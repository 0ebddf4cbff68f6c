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
* **User namespace** - when the server is not root and the host allows
  unprivileged user namespaces, each kernel first enters one of its own (its
  uid mapped to itself, no capability left once the kernel is exec'd): that
  is what gives it the network and mount namespaces below. Every kernel also
  makes itself non-dumpable before any code runs, so kernels sharing a uid
  cannot reach each other through ``/proc/<pid>/`` (root, mem, environ).
* **Network** - when ``unshare(CLONE_NEWNET)`` is permitted (root, or a
  user namespace allowing it): the kernel gets an empty network namespace
  with only its own loopback; nothing on the host, not even the host's
  127.0.0.1, is reachable. Otherwise no network isolation (noted in
  ``CodeInterpreter.isolation``).
* **Filesystem view** - when ``unshare(CLONE_NEWNS)`` is permitted: the
  workdir is bind-mounted at ``/mnt/data`` (cwd and ``HOME``) in a private
  mount namespace over a tmpfs ``/mnt``; nothing propagates to the host. The
  server's data directory (database, uploads, every thread's workdir) is
  covered by an empty read-only tmpfs; ``/tmp``, ``/dev/shm``, ``/var/tmp``
  and ``/run/lock`` are small private tmpfs mounts (the kernel's own runtime
  directory, with its sockets, is bound back). The rest of the filesystem is
  the host's, seen with the sandbox uid's rights. On disk, too, the data
  directory is 0711, ``files/`` 0700 and a SQLite database 0600.
* **Processes** - with the mount namespace and where ``CLONE_NEWPID`` is
  permitted (root, or a user namespace), each kernel runs as PID 2 of a PID
  namespace of its own, under a fresh ``/proc``: it sees and can signal only
  the processes it started (and the namespace's init), never the server or
  other kernels; SIGKILLing the launcher's pid ends them all (see
  ``_launcher._enter_pid_namespace``). As root that ``/proc`` also has
  ``hidepid=invisible`` (the root-owned init is hidden too); without a PID
  namespace, root still remounts ``/proc`` with it: a kernel sees only its own
  uid's processes (no command lines, environments or ``/proc/<pid>/root``
  of others).
  RLIMIT_NPROC on the sandbox uid (processes + threads); a fork bomb hits it,
  then every process of the uid is killed in one ``kill(-1)`` sweep and the
  kernel restarts. As a normal user RLIMIT_NPROC counts all of that user's
  tasks, so the limit is set to "current + N" and is only approximate; the
  server then makes itself non-dumpable so kernels of its uid cannot read its
  ``/proc/<pid>/environ`` or memory.
* **Memory, CPU, file size** - RLIMIT_AS, RLIMIT_CPU (re-armed per
  execution with ``prlimit``), RLIMIT_FSIZE, no core dumps; everywhere.
* **Disk** - what one execution adds to its workdir and runtime directory is
  measured every 20 ms; past ``max_disk_bytes`` the kernel is killed and the
  files that execution created are removed.
* **Time and output** - wall-clock limit per execution (interrupt, then
  restart); logs, images and returned files are capped, and an execution
  printing 32 times the log limit is interrupted early.

Every limit is a :class:`~nbext.config.CodeLimits` field a host sets with
``NBEXT_CODE_*`` or ``nbext serve --code-*``. Each escape attempt and its
verdict, as root and as a normal user: README "Sandbox", measured by
``tests/test_sandbox_attacks.py``.

Not isolated: world-readable files of the host (installed packages, /etc);
CPU share (no cgroups); IPC namespace. Run the server in a container for those.
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
