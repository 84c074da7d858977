"""Who is acting: the one object every service, visibility check and audit event takes."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from signalhub_platform.models.accounts import Role, User


@dataclass(frozen=True)
class Actor:
    name: str  # user name, "cli:<os user>", "job:<name>" or "anonymous"
    user_id: int | None = None
    agency_id: int | None = None  # None: the platform office, the public, the CLI or a job
    agency_code: str = ""
    roles: frozenset[Role] = field(default_factory=frozenset)
    client_ip: str = ""
    is_public: bool = False  # not logged in
    is_system: bool = False  # CLI operator or scheduled job: trusted like the platform office

    @classmethod
    def for_user(cls, user: User, client_ip: str = "") -> Actor:
        return cls.for_account(
            username=user.username,
            user_id=user.id,
            agency_id=user.agency_id,
            agency_code=user.agency.code if user.agency else None,
            roles=user.roles,
            client_ip=client_ip,
        )

    @classmethod
    def for_account(
        cls,
        *,
        username: str,
        user_id: int,
        agency_id: int | None,
        agency_code: str | None,
        roles: frozenset[Role],
        client_ip: str = "",
    ) -> Actor:
        """A user's actor from plain values (the bearer-token check reads them as rows, not objects)."""
        return cls(
            name=username,
            user_id=user_id,
            agency_id=agency_id,
            agency_code=agency_code or "platform",
            roles=roles,
            client_ip=client_ip,
        )

    @classmethod
    def public(cls, client_ip: str = "") -> Actor:
        return cls(name="anonymous", client_ip=client_ip, is_public=True)

    @classmethod
    def cli(cls) -> Actor:
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):
            os_user = "unknown"
        return cls(name=f"cli:{os_user}", agency_code="platform", is_system=True)

    @classmethod
    def job(cls, job_name: str) -> Actor:
        return cls(name=f"job:{job_name}", agency_code="platform", is_system=True)

    @property
    def is_member_agency_user(self) -> bool:
        return self.agency_id is not None and not self.is_public

    @property
    def is_platform_office(self) -> bool:
        return self.agency_id is None and not self.is_public and not self.is_system

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)
