"""A run's child forked from the runner's zygote, seen like a ``Popen`` by ``ChildRun``.

The runner makes two FIFOs in the run's scratch directory and opens their read ends
(non-blocking, green); the zygote opens their write ends for the child before the
fork (``shared.modelfile.zygote``), so the child's stdout and stderr stream to the
runner as with a cold child, and reach their end when the child (and everything it
started) ended.
"""

from __future__ import annotations

import os
import signal

from eventlet.greenio import GreenPipe

from shared.modelfile.forkserver import Forkserver, ForkserverUnavailable

#: A forked child starts with the zygote's address space (every preloaded library)
#: under its RLIMIT_AS; it is forked only when its limit leaves it at least this much
#: on top. Under that, a cold child (which maps only what it imports) runs it, so a
#: small ``memory_mb`` behaves exactly as it always did.
HEADROOM_MB = 256


class ForkedProcess:
    """``pid``, ``stdout``, ``stderr``, ``poll()``, ``wait(timeout)`` of a forked run."""

    def __init__(self, server: Forkserver, spec_path: str, memory_mb: int):
        size = server.address_space_mb
        if memory_mb and size is not None and memory_mb < size + HEADROOM_MB:
            raise ForkserverUnavailable(f"a memory limit of {memory_mb} MB is too close to "
                                        f"the zygote's {size:.0f} MB")
        workdir = os.path.dirname(os.path.abspath(spec_path))
        paths = [os.path.join(workdir, name) for name in ("stdout.fifo", "stderr.fifo")]
        fds: list[int] = []
        try:
            for path in paths:
                os.mkfifo(path, 0o600)
                fds.append(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            self._child = server.start({"spec": spec_path, "stdout": paths[0],
                                        "stderr": paths[1]})
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        finally:
            for path in paths:
                try:
                    os.unlink(path)  # both ends are open: the names are no longer needed
                except FileNotFoundError:
                    pass
        self.pid = self._child.pid
        self.stdout = GreenPipe(fds[0], "rb")
        self.stderr = GreenPipe(fds[1], "rb")

    def poll(self) -> int | None:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (< 0: killed by that signal), None while it runs after
        ``timeout`` seconds."""
        try:
            return self._child.wait(timeout)
        except ForkserverUnavailable:
            # The zygote died: the child died with it (its parent-death signal).
            self._child.kill(signal.SIGKILL)
            self._child.returncode = -signal.SIGKILL
            return self._child.returncode
