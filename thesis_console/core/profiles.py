"""Connection profiles: which Redis to talk to and how, kept in a JSON file in the per-user config folder.

A profile never holds a password: passwords live in the OS keyring (see :mod:`credentials`) or are
asked each time. :meth:`ProfileStore.save` refuses a URL that carries a password, so none can reach
the file by accident.

URL forms:
    ``redis://[user@]host:port/db``, ``rediss://...`` (TLS), ``unix:///path/to/redis.sock?db=0`` and
    ``sentinel://host:port[,host:port...]/service_name[/db]`` (the master that the sentinels name).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from thesis_console.core.bullmq.job_defaults import BullJobDefaults
from thesis_console.core.paths import user_config_root
from thesis_console.core.redis_url import has_password, redact
from thesis_console.core.redis_url import problem as url_problem
from thesis_console.core.types import CoreError

log = logging.getLogger(__name__)

EMBEDDED_PROFILE_NAME = "Local (embedded)"
PROFILES_ENV = "THESIS_PROFILES"
"""Path of the profiles file, overriding the per-user config folder (tests, portable set-ups)."""
FILE_VERSION = 1


@dataclass(frozen=True, repr=False)
class ConnectionProfile:
    """One Redis the console can connect to.

    Attributes:
        name: what the user calls it; unique in a :class:`ProfileStore`.
        url: ``redis://``, ``rediss://``, ``unix://`` or ``sentinel://host:port[,host:port]/service[/db]``;
            empty for the embedded profile (its URL is found when connecting).
        username: ACL user name (Redis 6+), or None for the default user.
        read_only: refuse every mutation (enforced by the core's actions).
        trust_pickle: allow unpickling job data read from this Redis (code-execution risk).
        queues: the queues to show; empty means all.
        tls_ca_file, tls_cert_file, tls_key_file: TLS files (``rediss://``, or the master of a sentinel URL).
        embedded: the managed local Redis that the console starts when needed.
        timeout_s: connect and command timeout.
        bullmq_prefix: the ``prefix`` option of the BullMQ queues on this Redis.
        bullmq_jobs: per BullMQ queue, the job name and default options of the thesis jobs the console
            adds (:meth:`job_defaults`); a queue not named here gets the Node thesis system's.
    """

    name: str
    url: str
    username: str | None = None
    read_only: bool = False
    trust_pickle: bool = False
    queues: tuple[str, ...] = ()
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    embedded: bool = False
    timeout_s: float = 5.0
    bullmq_prefix: str = "bull"
    bullmq_jobs: tuple[tuple[str, BullJobDefaults], ...] = ()

    def __post_init__(self) -> None:
        problem = profile_problem(self)
        if problem:
            raise CoreError(f"profile {self.name!r}: {problem}")

    def __repr__(self) -> str:
        # The URL of an ad-hoc profile may carry a password: never show it.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["url"] = redact(self.url)
        shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
        return f"ConnectionProfile({shown})"

    @property
    def display_url(self) -> str:
        """The URL for display, password redacted; ``embedded`` for the managed local Redis."""
        return "embedded" if self.embedded else redact(self.url)

    @property
    def uses_tls(self) -> bool:
        return self.url.startswith("rediss://") or bool(self.tls_ca_file or self.tls_cert_file)

    def job_defaults(self, queue: str) -> BullJobDefaults:
        """The job name and default options of thesis jobs added to the BullMQ queue ``queue``."""
        return dict(self.bullmq_jobs).get(queue) or BullJobDefaults()

    def with_job_defaults(self, queue: str, defaults: BullJobDefaults) -> ConnectionProfile:
        """This profile with ``defaults`` for the BullMQ queue ``queue`` (the others kept)."""
        kept = tuple((q, d) for q, d in self.bullmq_jobs if q != queue)
        return replace(self, bullmq_jobs=(*kept, (queue, defaults)))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["queues"] = list(self.queues)
        data["bullmq_jobs"] = {queue: defaults.to_json() for queue, defaults in self.bullmq_jobs}
        return data

    @classmethod
    def from_json(cls, data: Any) -> ConnectionProfile:
        """Build a profile from :meth:`to_json` output; unknown keys are ignored (newer versions).

        Raises:
            CoreError: a field is missing or has the wrong type.
        """
        if not isinstance(data, dict):
            raise CoreError(f"a profile must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "name" not in values or "url" not in values:
            raise CoreError(f"a profile needs 'name' and 'url', got keys {sorted(data)}")
        if not isinstance(values.get("queues", []), (list, tuple)):
            raise CoreError(f"profile {values['name']!r}: queues must be a list of names")
        values["queues"] = tuple(str(q) for q in values.get("queues", ()))
        try:
            values["timeout_s"] = float(values.get("timeout_s", 5.0))
        except (TypeError, ValueError):
            raise CoreError(f"profile {values['name']!r}: timeout_s must be a number") from None
        for flag in ("read_only", "trust_pickle", "embedded"):
            if not isinstance(values.get(flag, False), bool):
                raise CoreError(f"profile {values['name']!r}: {flag} must be true or false")
        try:
            values["bullmq_jobs"] = parse_bullmq_jobs(values.get("bullmq_jobs", {}))
        except CoreError as exc:
            raise CoreError(f"profile {values['name']!r}: {exc}") from None
        return cls(**values)


def parse_bullmq_jobs(data: Any) -> tuple[tuple[str, BullJobDefaults], ...]:
    """``bullmq_jobs`` as :meth:`ConnectionProfile.to_json` writes it (queue name -> job defaults).

    Raises:
        CoreError: it is not such a mapping, or a queue's job defaults are wrong (named).
    """
    if isinstance(data, tuple):  # already parsed
        return data
    if not isinstance(data, dict):
        raise CoreError("bullmq_jobs must map queue names to job defaults")
    parsed = []
    for queue, defaults in data.items():
        try:
            parsed.append((str(queue), BullJobDefaults.from_json(defaults)))
        except CoreError as exc:
            raise CoreError(f"bullmq_jobs of queue {queue!r}: {exc}") from None
    return tuple(parsed)


def profile_problem(profile: ConnectionProfile) -> str | None:
    """What is wrong with ``profile`` (a sentence naming the field), or None when it is usable."""
    if not isinstance(profile.name, str) or not profile.name.strip():
        return "name must not be empty"
    if not isinstance(profile.url, str):
        return "url must be text"
    if not isinstance(profile.timeout_s, (int, float)) or not 0 < profile.timeout_s <= 300:
        return f"timeout_s must be between 0 and 300 seconds, got {profile.timeout_s!r}"
    if any(not isinstance(q, str) or not q for q in profile.queues):
        return "queues must be non-empty names"
    if not isinstance(profile.bullmq_prefix, str) or not profile.bullmq_prefix or ":" in profile.bullmq_prefix:
        return f"bullmq_prefix must be a non-empty name without ':', got {profile.bullmq_prefix!r}"
    if any(not (isinstance(q, str) and q and isinstance(d, BullJobDefaults)) for q, d in profile.bullmq_jobs):
        return "bullmq_jobs must pair queue names with BullMQ job defaults"
    if profile.embedded:
        return None
    found = url_problem(profile.url)
    if found:
        return found
    scheme = profile.url.split("://", 1)[0]
    if scheme == "redis" and (profile.tls_ca_file or profile.tls_cert_file or profile.tls_key_file):
        return "TLS files are set but the URL is redis://; use rediss:// for TLS"
    if profile.tls_key_file and not profile.tls_cert_file:
        return "tls_key_file needs tls_cert_file (the client certificate)"
    return None


def embedded_profile() -> ConnectionProfile:
    """The default profile: the managed local Redis."""
    return ConnectionProfile(name=EMBEDDED_PROFILE_NAME, url="", embedded=True)


def default_profiles_path() -> Path:
    """``THESIS_PROFILES``, else ``profiles.json`` in the per-user config folder."""
    override = os.environ.get(PROFILES_ENV)
    if override:
        return Path(override)
    return user_config_root() / "profiles.json"


class ProfileStore:
    """The saved connection profiles: a JSON file that never contains a password."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_profiles_path()

    def load(self) -> list[ConnectionProfile]:
        """The saved profiles, the embedded default first when the file does not redefine it.

        A missing file gives just the default.

        Raises:
            CoreError: the file exists but cannot be read or is damaged; the message names it.
        """
        profiles: list[ConnectionProfile] = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise CoreError(f"cannot read the profiles file {self.path}: {exc.strerror}") from None
        if text.strip():
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise CoreError(f"the profiles file {self.path} is not valid JSON: {exc}") from None
            items = data.get("profiles") if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise CoreError(f"the profiles file {self.path} has no 'profiles' list")
            seen: set[str] = set()
            for item in items:
                try:
                    profile = ConnectionProfile.from_json(item)
                except CoreError as exc:
                    raise CoreError(f"the profiles file {self.path}: {exc}") from None
                if profile.name in seen:
                    raise CoreError(f"the profiles file {self.path} names {profile.name!r} twice")
                seen.add(profile.name)
                profiles.append(profile)
        if not any(p.name == EMBEDDED_PROFILE_NAME for p in profiles):
            profiles.insert(0, embedded_profile())
        return profiles

    def save(self, profiles: list[ConnectionProfile] | tuple[ConnectionProfile, ...]) -> None:
        """Write ``profiles`` atomically (a temporary file renamed over the old one), readable by the user only.

        Raises:
            CoreError: two profiles share a name, a URL carries a password, or the file cannot be written.
        """
        names: set[str] = set()
        for profile in profiles:
            if profile.name in names:
                raise CoreError(f"two profiles are named {profile.name!r}; names must be unique")
            names.add(profile.name)
            if has_password(profile.url):
                raise CoreError(
                    f"profile {profile.name!r}: the URL contains a password; remove it from the URL "
                    "and store it in the keyring instead (it is never written to the profiles file)"
                )
        payload = {"version": FILE_VERSION, "profiles": [p.to_json() for p in profiles]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".profiles-", suffix=".json", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(payload, fh, indent=2)
                    fh.write("\n")
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise CoreError(f"cannot write the profiles file {self.path}: {exc.strerror or exc}") from None

    def get(self, name: str) -> ConnectionProfile:
        """The profile called ``name``.

        Raises:
            CoreError: there is none; the message lists the names that exist.
        """
        profiles = self.load()
        for profile in profiles:
            if profile.name == name:
                return profile
        known = ", ".join(repr(p.name) for p in profiles)
        raise CoreError(f"no connection profile named {name!r}; known profiles: {known}")

    def put(self, profile: ConnectionProfile) -> None:
        """Add ``profile`` or replace the one with the same name, then save."""
        profiles = [p for p in self.load() if p.name != profile.name]
        profiles.append(profile)
        self.save(profiles)

    def remove(self, name: str) -> None:
        """Forget the profile called ``name`` (the embedded default comes back with its defaults)."""
        self.save([p for p in self.load() if p.name != name])


def ad_hoc_profile(url: str, *, name: str = "command line", read_only: bool = False) -> ConnectionProfile:
    """A profile for a URL given on the command line or in ``REDIS_URL`` (never saved, so it may hold a password)."""
    return ConnectionProfile(name=name, url=url, read_only=read_only)
