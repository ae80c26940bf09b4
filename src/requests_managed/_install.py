"""``install()``: make ``requests.Session`` a managed session, for third-party code.

While installed, ``requests.Session`` and ``requests.sessions.Session`` are
:class:`InstalledSession`, a ``ManagedSession`` subclass whose ``__init__``
takes no arguments (as ``requests.Session``'s does) and applies the installed
configuration. ``requests.session()`` and ``requests.api.request`` (behind
``requests.get``, ``requests.post``, ...) look ``Session`` up in
``requests.sessions`` when called, so they are covered by the same two
attributes; nothing else is patched.

State: a stack of active installations, guarded by one lock. The newest one
supplies the configuration; the attributes are patched when the stack becomes
non-empty and restored when it becomes empty again. A stack (rather than a
flag) is what keeps overlapping ``installed()`` blocks in different threads
correct: leaving one block never uninstalls while another is still inside its
own.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import threading
import types
from collections.abc import Iterator

import requests
import requests.sessions

from ._adapter import RetriesType
from ._limits import PoolLimits
from ._policy import KeepAlivePolicy
from ._session import ManagedSession, _check_retries
from ._timeouts import Timeout, TimeoutTypes

__all__ = ["Installation", "InstalledSession", "install", "installed", "uninstall"]

# requests' own Session class, found among ManagedSession's bases (even if
# another library had replaced the ``requests.Session`` name before we were
# imported). Read, not patched: importing this module changes nothing.
_REQUESTS_SESSION: type[requests.Session] = next(
    cls
    for cls in ManagedSession.__mro__
    if cls.__module__ == "requests.sessions" and cls.__qualname__ == "Session"
)

# Where requests keeps the name that ``requests.Session()`` and
# ``requests.api.request`` resolve at call time.
_TARGETS: tuple[types.ModuleType, ...] = (requests, requests.sessions)
_NAME = "Session"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Config:
    timeout: Timeout
    limits: PoolLimits
    policy: KeepAlivePolicy
    retries: RetriesType


class Installation:
    """The handle ``install()`` returns; ``undo()`` withdraws that one call.

    Each ``install()`` is one entry in a stack of installations; the newest
    entry's configuration applies. ``undo()`` removes this entry wherever it
    is (so overlapping installs from different threads are undone correctly)
    and, when it was the last one, restores ``requests.Session``. Calling
    ``undo()`` again, or after ``uninstall()``, does nothing.
    """

    __slots__ = ("_config",)

    def __init__(self, config: _Config) -> None:
        self._config = config

    def __repr__(self) -> str:
        with _lock:
            state = "active" if self in _stack else "undone"
        return f"<Installation {state} timeout={self._config.timeout!r}>"

    def undo(self) -> None:
        """Withdraw this installation; idempotent."""
        with _lock:
            if self in _stack:
                _stack.remove(self)
                _settle()


_lock = threading.Lock()
_stack: list[Installation] = []  # guarded by _lock; the last entry applies
_saved: dict[str, type[requests.Session]] = {}  # module name -> what we replaced
# The configuration new InstalledSessions take, or None when not installed.
# One reference, replaced whole under _lock, read without it.
_active: _Config | None = None


class _InstalledSessionType(abc.ABCMeta):
    """Keeps ``isinstance(x, requests.Session)`` true for every session while installed.

    Without this, a session made before ``install()``, or a ``ManagedSession``
    the application passes to a library, would fail that check because
    ``requests.Session`` is then a subclass of it. Only the exact class
    delegates; subclasses (``class MySession(requests.Session)`` defined while
    installed) check as usual. Derived from ``ABCMeta`` so that such a
    subclass can still mix in an ``abc.ABC``.
    """

    def __instancecheck__(cls, instance: object) -> bool:
        if cls is InstalledSession:
            return isinstance(instance, _REQUESTS_SESSION)
        return super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: type) -> bool:
        if cls is InstalledSession:
            return issubclass(subclass, _REQUESTS_SESSION)
        return super().__subclasscheck__(subclass)


class InstalledSession(ManagedSession, metaclass=_InstalledSessionType):
    """What ``requests.Session`` is while ``install()`` is active.

    A ``ManagedSession`` built from the installed configuration at creation;
    later installs do not change sessions that already exist. Created when
    nothing is installed (from a reference kept past ``uninstall()``), it has
    ``ManagedSession``'s defaults.
    """

    def __init__(self) -> None:
        config = _active
        if config is None:
            super().__init__()
        else:
            super().__init__(
                timeout=config.timeout,
                limits=config.limits,
                policy=config.policy,
                retries=config.retries,
            )


def install(
    *,
    timeout: TimeoutTypes = None,
    limits: PoolLimits | None = None,
    policy: KeepAlivePolicy | None = None,
    retries: RetriesType = None,
) -> Installation:
    """Make every ``requests.Session`` created from now on a ``ManagedSession``.

    Afterwards ``requests.Session()``, ``requests.session()``,
    ``requests.sessions.Session()`` and the ``requests.get`` / ``post`` /
    ``put`` / ``patch`` / ``delete`` / ``head`` / ``options`` / ``request``
    helpers all create managed sessions with this configuration, so code you
    do not control gets mandatory timeouts and managed pools unchanged.

    Installing again is fine: the newest configuration applies to sessions
    created afterwards (existing sessions keep theirs), and undoing it brings
    back the previous one. ``uninstall()`` withdraws every installation.

    Limits: code that bound the class before the call
    (``from requests import Session`` at import time, or a class
    ``MySession(requests.Session)`` defined before it) keeps plain requests.
    While installed, ``isinstance(s, requests.Session)`` is true for every
    session, managed or not, but ``type(requests.Session())`` is
    ``InstalledSession``, not ``requests.Session``.

    Args:
        timeout: The default timeout of each new session, in any form
            ``ManagedSession(timeout=...)`` accepts; ``None`` for ``Timeout()``.
        limits: Pool limits of each new session (``PoolLimits()``).
        policy: Keep-alive policy of each new session (``KeepAlivePolicy()``).
        retries: ``retries=`` of each new session (a urllib3 ``Retry``, an
            int >= 0, or ``None``: no retries beyond the one safe replay).

    Returns:
        An ``Installation``; its ``undo()`` withdraws just this call.

    Raises:
        InvalidTimeout: ``timeout`` is not a valid timeout.
        TypeError: ``limits``, ``policy`` or ``retries`` is of the wrong type.

    Example:
        >>> installation = install(timeout=Timeout(connect=3, read=10, total=60))
        >>> requests.get("https://example.invalid/")  # doctest: +SKIP
        >>> installation.undo()
    """
    # Validated before anything changes, with ManagedSession's own messages.
    if limits is not None and not isinstance(limits, PoolLimits):
        raise TypeError(f"limits must be a PoolLimits or None, got {limits!r}")
    if policy is not None and not isinstance(policy, KeepAlivePolicy):
        raise TypeError(f"policy must be a KeepAlivePolicy or None, got {policy!r}")
    config = _Config(
        timeout=Timeout.coerce(timeout),
        limits=limits if limits is not None else PoolLimits(),
        policy=policy if policy is not None else KeepAlivePolicy(),
        retries=_check_retries(retries),
    )
    installation = Installation(config)
    with _lock:
        _stack.append(installation)
        _settle()
    return installation


def uninstall() -> None:
    """Withdraw every installation and restore ``requests.Session``; idempotent.

    Afterwards ``requests.Session`` and ``requests.sessions.Session`` are again
    what they were before the first ``install()``. If other code replaced them
    after ``install()`` (another patching library), its replacement is left in
    place. Sessions created while installed stay managed sessions.
    """
    with _lock:
        _stack.clear()
        _settle()


@contextlib.contextmanager
def installed(
    *,
    timeout: TimeoutTypes = None,
    limits: PoolLimits | None = None,
    policy: KeepAlivePolicy | None = None,
    retries: RetriesType = None,
) -> Iterator[Installation]:
    """``install()`` for the duration of a ``with`` block, undone on exit.

    Undone also when the block raises. Takes the same arguments and raises
    the same errors as ``install()``.

    Example:
        >>> with installed(timeout=10):
        ...     third_party.fetch_all()  # doctest: +SKIP
    """
    installation = install(
        timeout=timeout, limits=limits, policy=policy, retries=retries
    )
    try:
        yield installation
    finally:
        installation.undo()


def _settle() -> None:
    """Make the patched attributes and ``_active`` match ``_stack``.

    The caller holds ``_lock``.
    """
    global _active
    if _stack:
        if _active is None:
            for module in _TARGETS:
                _saved[module.__name__] = getattr(module, _NAME)
                setattr(module, _NAME, InstalledSession)
        _active = _stack[-1]._config
    elif _active is not None:
        for module in _TARGETS:
            original = _saved.pop(module.__name__)
            # Leave a later patcher's class alone; restore only our own.
            if getattr(module, _NAME) is InstalledSession:
                setattr(module, _NAME, original)
        _active = None
