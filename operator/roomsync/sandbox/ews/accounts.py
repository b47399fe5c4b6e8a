"""Who may call EWS and on whose mailboxes: service accounts (Basic / NTLM), OAuth apps, and their rights.

What an Exchange administrator sets up, in emulator form (docs/exchange-on-premises.md has the real commands):

- ``ApplicationImpersonation`` scoped to the room mailboxes (``New-ManagementScope`` + ``New-ManagementRoleAssignment
  -CustomRecipientWriteScope``): ``impersonation`` lists the mailboxes an account may impersonate, None = every room;
  anything else answers ``ErrorImpersonateUserDenied``.
- Delegate access (``Add-MailboxPermission -AccessRights FullAccess``): ``delegate`` lists the mailboxes an account
  may open without impersonation; anything else answers ``ErrorAccessDenied``.
- OAuth (hybrid modern auth): the app's token comes from the Entra endpoint the Graph face shares; an app-only token
  must impersonate, with the same scope rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServiceAccount:
    username: str  # DOMAIN\user
    password: str
    upn: str | None = None
    impersonation: set[str] | None = None
    delegate: set[str] | None = None

    @property
    def domain(self) -> str:
        return self.username.split("\\", 1)[0] if "\\" in self.username else ""

    @property
    def user(self) -> str:
        return self.username.split("\\", 1)[-1]


@dataclass(frozen=True)
class Principal:
    """The caller of one request, after authentication."""

    name: str
    scheme: str  # Basic | NTLM | Bearer
    impersonation: frozenset[str] | None
    delegate: frozenset[str] | None
    app: bool = False

    def may_impersonate(self, mailbox: str) -> bool:
        return self.impersonation is None or mailbox in self.impersonation

    def may_open(self, mailbox: str) -> bool:
        return not self.app and (self.delegate is None or mailbox in self.delegate)


@dataclass
class Accounts:
    by_name: dict[str, ServiceAccount] = field(default_factory=dict)
    #: OAuth app (client id) -> mailboxes it may impersonate (None = every room)
    apps: dict[str, set[str] | None] = field(default_factory=dict)

    def add(self, account: ServiceAccount) -> None:
        self.by_name[account.username.casefold()] = account
        if account.upn:
            self.by_name[account.upn.casefold()] = account

    def find(self, domain: str, user: str) -> ServiceAccount | None:
        """``DOMAIN\\user``, ``user@domain`` (UPN, with an empty NTLM domain) or a bare user name."""
        for key in (f"{domain}\\{user}", user):
            account = self.by_name.get(key.casefold())
            if account is not None and (not domain or account.domain.casefold() in ("", domain.casefold())):
                return account
        return None

    def password_of(self, domain: str, user: str) -> str | None:
        account = self.find(domain, user)
        return account.password if account else None

    @staticmethod
    def principal(account: ServiceAccount, scheme: str) -> Principal:
        return Principal(
            account.username,
            scheme,
            None if account.impersonation is None else frozenset(account.impersonation),
            None if account.delegate is None else frozenset(account.delegate),
        )

    def app_principal(self, client_id: str) -> Principal:
        scope = self.apps.get(client_id)
        return Principal(client_id, "Bearer", None if scope is None else frozenset(scope), frozenset(), app=True)
