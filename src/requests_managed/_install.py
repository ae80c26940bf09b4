"""``install()``: make ``requests.Session`` managed, for third-party code.

While installed, requests' own ``Session`` class makes managed sessions: its
``__new__`` returns an :class:`InstalledSession` (a ``ManagedSession`` built
from the installed configuration) for ``requests.Session()``, and for a
subclass ``LibSession(requests.Session)`` an instance of a managed variant of
it (``LibSession`` first in the MRO, then ``InstalledSession``), so the
subclass's own methods still run around ours. ``requests.session()`` and the
``requests.get`` / ``post`` / ... helpers go through the same class.

The names ``requests.Session`` and ``requests.sessions.Session`` are never
rebound. That is what keeps patching tools whole: ``mock.patch(
"requests.Session.send")``, ``requests_mock.Mocker()`` and OpenTelemetry's
instrumentation patch requests' class, and every session (a
``ManagedSession``, one made before ``install()``, a subclass defined before
it) inherits from that class, so every one of them sees the patch.

Which sessions are managed is decided when one is created, by its *owner*:
the module of the nearest class in its MRO outside requests and this package
(``docker.api.client`` for docker's ``APIClient``), else the module of the
code that called ``requests.Session()`` / ``requests.get(...)``.
``install(exclude=[...])`` and ``include=[...]`` name packages (a name
matches itself and its submodules); an excluded owner gets a plain session.

State: a stack of active installations, guarded by one lock. The newest one
supplies the configuration; ``Session.__new__`` is patched when the stack
becomes non-empty and restored when it becomes empty again. A stack (rather
than a flag) is what keeps overlapping ``installed()`` blocks in different
threads correct: leaving one block never uninstalls while another is still
inside its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import keyword
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

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

#: Modules whose frames and classes are never a session's owner.
_INTERNAL = ("requests", "requests_managed", "urllib3")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Config:
    timeout: Timeout
    limits: PoolLimits
    policy: KeepAlivePolicy
    retries: RetriesType
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()

    def manages(self, owner: str) -> bool:
        if _matches(owner, self.exclude):
            return False
        return self.include is None or _matches(owner, self.include)


def _matches(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _check_packages(name: str, value: object) -> tuple[str, ...] | None:
    """``include=`` / ``exclude=``: None, or an iterable of module names."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{name} must be a list of package names, got the string {value!r}; "
            f"write {name}=[{value!r}]"
        )
    try:
        packages: tuple[object, ...] = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name} must be a list of package names (e.g. ['docker']), got {value!r}"
        ) from None
    names: list[str] = []
    for package in packages:
        if not isinstance(package, str):
            raise TypeError(
                f"{name} must contain package names as strings, got {package!r}"
            )
        parts = package.split(".")
        if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
            raise ValueError(
                f"{name} must contain importable module names such as 'docker' "
                f"or 'mylib.client', got {package!r}"
            )
        names.append(package)
    return tuple(names)


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
# The configuration new InstalledSessions take, or None when not installed.
# One reference, replaced whole under _lock, read without it.
_active: _Config | None = None
# What requests.Session.__new__ was before we patched it (normally absent);
# read by _installed_new, written under _lock.
_MISSING: Any = object()
_saved_new: Any = _MISSING


class InstalledSession(ManagedSession):
    """What ``requests.Session()`` makes while ``install()`` is active.

    A ``ManagedSession`` built from the installed configuration at creation;
    later installs do not change sessions that already exist. Created when
    nothing is installed (from a reference kept past ``uninstall()``), it has
    ``ManagedSession``'s defaults.
    """

    #: The plain class this managed class stands for (``requests.Session``,
    #: or a subclass of it): what a pickle names.
    _rm_plain_class: type[requests.Session] = _REQUESTS_SESSION

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

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A managed variant of a subclass is made on the fly: pickle names
        # the plain class, whose __new__ decides again when unpickled.
        cls = type(self)
        named = cls if cls is InstalledSession else self._rm_plain_class
        return _unpickled, (named,), self.__getstate__()


def _unpickled(cls: type[requests.Session]) -> requests.Session:
    """A pickled session comes back through its class's ``__new__``."""
    return cls.__new__(cls)


# Managed variants of requests.Session subclasses, made once per class.
_variants: dict[type, type] = {}


def _managed_class(cls: type[requests.Session]) -> type[requests.Session]:
    if cls is _REQUESTS_SESSION:
        return InstalledSession
    variant = _variants.get(cls)
    if variant is None:
        variant = type(
            cls.__name__,
            (cls, InstalledSession),
            {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
                "_rm_plain_class": cls,
            },
        )
        variant = _variants.setdefault(cls, variant)
    return variant


def _owner(cls: type) -> str:
    """The module that a new session of class ``cls`` belongs to."""
    for klass in cls.__mro__:
        if klass is _REQUESTS_SESSION:
            break
        if not _matches(klass.__module__, _INTERNAL):
            return klass.__module__
    frame: Any = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not _matches(module, _INTERNAL):
            return str(module)
        frame = frame.f_back
    return "__main__"


def _installed_new(cls: type[requests.Session], *args: Any, **kwargs: Any) -> Any:
    """``requests.Session.__new__`` from the first ``install()`` on.

    It stays in place after ``uninstall()``, doing nothing then: CPython
    cannot give a class back the ``__new__`` it inherited once one was set
    (``object.__new__`` would then refuse the arguments of every subclass's
    ``__init__``), so "restored" means "inert".
    """
    config = _active
    if (
        config is None
        or issubclass(cls, ManagedSession)
        or not config.manages(_owner(cls))
    ):
        if _saved_new is not _MISSING:  # another library's __new__, first
            return _saved_new(cls, *args, **kwargs)
        return object.__new__(cls)
    return object.__new__(_managed_class(cls))


_PATCH = staticmethod(_installed_new)


def install(
    *,
    timeout: TimeoutTypes = None,
    limits: PoolLimits | None = None,
    policy: KeepAlivePolicy | None = None,
    retries: RetriesType = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> Installation:
    """Make every ``requests.Session`` created from now on a ``ManagedSession``.

    Afterwards ``requests.Session()``, ``requests.session()``,
    ``requests.sessions.Session()``, the ``requests.get`` / ``post`` /
    ``put`` / ``patch`` / ``delete`` / ``head`` / ``options`` / ``request``
    helpers and every subclass of ``requests.Session`` (defined before or
    after this call) create managed sessions with this configuration, so code
    you do not control gets mandatory timeouts and managed pools unchanged.
    Sessions that already exist stay as they are.

    ``requests.Session`` stays requests' own class (it is not rebound), so
    ``mock.patch("requests.Session.send")``, ``requests_mock.Mocker()`` and
    other patches of that class cover every session, managed or not.
    ``type(requests.Session())`` is ``InstalledSession`` (a subclass);
    a subclass ``LibSession`` gives a managed subclass of ``LibSession``.

    Installing again is fine: the newest configuration applies to sessions
    created afterwards (existing sessions keep theirs), and undoing it brings
    back the previous one. ``uninstall()`` withdraws every installation.

    Args:
        timeout: The default timeout of each new session, in any form
            ``ManagedSession(timeout=...)`` accepts; ``None`` for ``Timeout()``.
        limits: Pool limits of each new session (``PoolLimits()``).
        policy: Keep-alive policy of each new session (``KeepAlivePolicy()``).
        retries: ``retries=`` of each new session (a urllib3 ``Retry``, an
            int >= 0, or ``None``: no retries beyond the one safe replay).
        include: Package names: manage only the sessions these packages
            create. ``None`` (the default): every package's.
        exclude: Package names whose sessions stay plain ``requests``
            sessions, e.g. ``["docker"]`` for a library that waits on
            purpose. Wins over ``include``. A session belongs to the module
            that defines its class (for a ``requests.Session`` subclass) or
            else to the module that called ``requests.Session()`` /
            ``requests.get()``; a name matches itself and its submodules.

    Returns:
        An ``Installation``; its ``undo()`` withdraws just this call.

    Raises:
        InvalidTimeout: ``timeout`` is not a valid timeout.
        TypeError: ``limits``, ``policy`` or ``retries`` is of the wrong type;
            ``include`` or ``exclude`` is not a list of strings.
        ValueError: ``include`` or ``exclude`` holds something that is not a
            module name.

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
        include=_check_packages("include", include),
        exclude=_check_packages("exclude", exclude) or (),
    )
    installation = Installation(config)
    with _lock:
        _stack.append(installation)
        _settle()
    return installation


def uninstall() -> None:
    """Withdraw every installation; idempotent.

    Afterwards ``requests.Session()`` makes plain sessions again. Sessions
    created while installed stay managed sessions.
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
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> Iterator[Installation]:
    """``install()`` for the duration of a ``with`` block, undone on exit.

    Undone also when the block raises. Takes the same arguments and raises
    the same errors as ``install()``.

    Example:
        >>> with installed(timeout=10, exclude=["docker"]):
        ...     third_party.fetch_all()  # doctest: +SKIP
    """
    installation = install(
        timeout=timeout,
        limits=limits,
        policy=policy,
        retries=retries,
        include=include,
        exclude=exclude,
    )
    try:
        yield installation
    finally:
        installation.undo()


def is_installed() -> bool:
    """Whether an ``install()`` is active (new sessions are managed)."""
    return _active is not None


def _settle() -> None:
    """Make ``_active`` match ``_stack``. The caller holds ``_lock``."""
    global _active, _saved_new
    if _stack:
        cls: Any = _REQUESTS_SESSION
        if vars(cls).get("__new__") is not _PATCH:
            # Set once and left in place (see _installed_new). If another
            # library set a __new__ of its own since, ours goes first and
            # calls it for the sessions we leave plain.
            saved = vars(cls).get("__new__", _MISSING)
            _saved_new = saved.__func__ if isinstance(saved, staticmethod) else saved
            cls.__new__ = _PATCH
        _active = _stack[-1]._config
    else:
        _active = None
