# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Short host commands (``virsh``, ``dpkg-query``, ``rpm``) run through the caller's runner, in the C locale, with a
deadline.

Module utilities start no commands themselves: the module hands over its ``AnsibleModule.run_command`` (the
*runner*), which :func:`run` calls with run_command's own keywords, so the environment, the logging and the
no_log masking stay Ansible's. run_command has no timeout (ansible-core 2.19 to 2.21), so the deadline is a timer
armed through its ``before_communicate_callback``: it kills the command when it is still running after ``timeout``
seconds, and :func:`run` then raises :class:`CommandTimeout`.

A runner is any callable with run_command's signature that returns ``(rc, stdout, stderr)``; ``stdout`` and
``stderr`` are text. Standard library only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence, Tuple

if TYPE_CHECKING:
    import subprocess

Runner = Callable[..., Tuple[int, str, str]]  # AnsibleModule.run_command, or anything with its signature
C_LOCALE = {"LC_ALL": "C", "LANG": "C"}  # the words callers parse (virsh's "error: ...", dpkg's versions) are English


class CommandTimeout(Exception):
    """The command was still running after its deadline and was killed."""


class Deadline(object):
    """A ``before_communicate_callback`` for run_command: kills the started process after ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.expired = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._done = False

    def arm(self, proc: subprocess.Popen[Any]) -> None:
        """Called by run_command with the started process, before it reads the process's output."""
        with self._lock:
            if self._done:
                return
            self._timer = threading.Timer(self.timeout, self._expire, (proc,))
            self._timer.daemon = True
            self._timer.start()

    def _expire(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            if self._done or proc.poll() is not None:
                return
            self.expired = True
            proc.kill()  # run_command then sees the pipes close and the process gone, and returns

    def disarm(self) -> None:
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()


def run(runner: Runner, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    """``(rc, stdout, stderr)`` of ``argv`` (a list, no shell, no ``~`` or ``$VAR`` expansion) run by ``runner``
    with LC_ALL=C. Raises :class:`CommandTimeout` when it did not finish within ``timeout`` seconds and OSError
    when it cannot be run (``[Errno 2] No such file or directory: 'virsh'``)."""
    deadline = Deadline(timeout)
    try:
        result = runner(list(argv), environ_update=dict(C_LOCALE), expand_user_and_vars=False,
                        before_communicate_callback=deadline.arm, handle_exceptions=False)
    except OSError as exc:
        # run_command hands the program to Popen as bytes: name it as text, the way subprocess would
        raise OSError(exc.errno, exc.strerror, argv[0])
    finally:
        deadline.disarm()
    if deadline.expired:
        raise CommandTimeout("%s got no answer within %ss" % (argv[0], timeout))
    return result
