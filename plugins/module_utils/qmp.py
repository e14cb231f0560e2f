# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small synchronous QMP client (standard library only). Implementation in progress."""


class QMPError(Exception):
    """Base of every failure raised by this module."""


class QMPConnectError(QMPError):
    """The monitor could not be reached."""


class QMPTimeoutError(QMPError):
    """A deadline passed: connecting, waiting for the greeting, or one command."""


class QMPProtocolError(QMPError):
    """The peer broke the protocol: garbage, a bad greeting, or it closed mid-reply."""


class QMPCommandError(QMPError):
    """QEMU answered a command with an error reply."""

    def __init__(self, command, error_class, desc):
        super(QMPCommandError, self).__init__("%s failed: %s: %s" % (command, error_class, desc))
        self.command = command
        self.error_class = error_class
        self.desc = desc
