"""Settings of the chat bot and the notifier (beside the components; unknown keys refused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rca_service.api.auth import Role, parse_slack_roles
from rca_service.errors import ConfigError
from rca_service.ingest.configbase import config_from_dict


@dataclass
class SlackConfig:
    """The Slack-style chat bot.

    Attributes:
        signing_secret: Slack app signing secret; empty disables the bot (every request is 401).
        roles: "slack_user_id:role,..." — who may approve or reject from chat.
        default_role: role of a signed-in user not listed in `roles` (viewer: may only ask).
        base_url: public URL of the service, for links to incident pages.
        response_timeout_s: limit of one post to a `response_url`.
    """

    signing_secret: str = ""
    roles: str = ""
    default_role: str = "viewer"
    base_url: str = "http://127.0.0.1:4318"
    response_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        self.role_map = parse_slack_roles(self.roles)
        self.default = Role.parse(self.default_role)
        if self.default > Role.VIEWER:
            raise ConfigError("SlackConfig.default_role must be viewer: approving needs an explicit role")
        if self.response_timeout_s <= 0:
            raise ConfigError("SlackConfig.response_timeout_s must be > 0")

    def role_of(self, user_id: str) -> Role:
        return self.role_map.get(user_id, self.default)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SlackConfig":
        return config_from_dict(cls, data)

    @classmethod
    def from_settings(cls, settings: Any) -> "SlackConfig":
        base = getattr(settings, "base_url", "") or "http://127.0.0.1:4318"
        return cls(signing_secret=getattr(settings, "slack_signing_secret", "") or "",
                   roles=getattr(settings, "slack_roles", "") or "", base_url=base)


@dataclass
class NotifierConfig:
    """The incoming-webhook notifier.

    Attributes:
        min_interval_s: least time between two posts (Slack allows about one a second).
        timeout_s: limit of one post.
        max_retries: retries of a post answered 429 / 5xx / not answered.
        max_retry_after_s: longest Retry-After we honour; longer waits drop the message.
        max_queue: messages waiting to be sent; beyond it new ones are dropped (and logged).
    """

    min_interval_s: float = 1.0
    timeout_s: float = 5.0
    max_retries: int = 3
    max_retry_after_s: float = 60.0
    max_queue: int = 100

    def __post_init__(self) -> None:
        if self.min_interval_s < 0 or self.timeout_s <= 0 or self.max_retry_after_s <= 0:
            raise ConfigError("NotifierConfig: intervals and timeouts must be positive")
        if self.max_retries < 0 or self.max_queue < 1:
            raise ConfigError("NotifierConfig: max_retries must be >= 0 and max_queue >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NotifierConfig":
        return config_from_dict(cls, data)
