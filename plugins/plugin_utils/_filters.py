# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the collection's filters fail: a typed error of the collection's logic becomes AnsibleFilterError,
which Ansible shows as the task's message, instead of a traceback. Private to the collection; controller side."""

from __future__ import annotations

import functools
from typing import Any, Callable

from ansible.errors import AnsibleFilterError


def as_filter_error(message: str, *errors: type[Exception]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a filter so that ``errors`` it raises become AnsibleFilterError with ``message % error`` (``%s``
    is the error's own text); any other exception passes unchanged."""
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except errors as exc:
                raise AnsibleFilterError(message % exc)
        return checked
    return decorate
