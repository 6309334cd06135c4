"""manifest.yml: only the fields Slack's manifest allows, and exactly the scopes the code needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack import blocks

ROOT = Path(__file__).resolve().parent.parent
SLACK_CODE = ROOT / "bot" / "slack"


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


STR: dict[str, Any] = {"type": "string"}
BOOL: dict[str, Any] = {"type": "boolean"}
STRS: dict[str, Any] = {"type": "array", "items": STR}

# The fields and limits of Slack's app manifest reference (api.slack.com/reference/manifests),
# for the four sections a bot like ours uses; anything else is a typo Slack would reject.
MANIFEST_SCHEMA = _obj(
    {
        "_metadata": _obj({"major_version": {"type": "integer"}, "minor_version": {"type": "integer"}}),
        "display_information": _obj(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 35},
                "description": {"type": "string", "maxLength": 140},
                "long_description": {"type": "string", "minLength": 174, "maxLength": 4000},
                "background_color": {"type": "string", "pattern": "^#([0-9a-fA-F]{3}){1,2}$"},
            },
            required=("name",),
        ),
        "features": _obj(
            {
                "app_home": _obj(
                    {"home_tab_enabled": BOOL, "messages_tab_enabled": BOOL, "messages_tab_read_only_enabled": BOOL}
                ),
                "bot_user": _obj(
                    {
                        "display_name": {"type": "string", "maxLength": 80, "pattern": r"^[\w\-.]+$"},
                        "always_online": BOOL,
                    },
                    required=("display_name",),
                ),
                "shortcuts": {
                    "type": "array",
                    "items": _obj(
                        {
                            "name": STR,
                            "callback_id": {"type": "string", "maxLength": 255},
                            "description": {"type": "string", "maxLength": 150},
                            "type": {"enum": ["message", "global"]},
                        },
                        required=("name", "callback_id", "description", "type"),
                    ),
                },
                "slash_commands": {
                    "type": "array",
                    "items": _obj(
                        {
                            "command": {"type": "string", "maxLength": 32, "pattern": "^/"},
                            "description": {"type": "string", "maxLength": 2000},
                            "should_escape": BOOL,
                            "url": {"type": "string", "pattern": "^https://"},
                            "usage_hint": {"type": "string", "maxLength": 1000},
                        },
                        required=("command", "description"),
                    ),
                },
                "unfurl_domains": {"type": "array", "items": STR, "maxItems": 5},
            }
        ),
        "oauth_config": _obj(
            {
                "redirect_urls": STRS,
                "scopes": _obj({"bot": {**STRS, "maxItems": 255}, "user": {**STRS, "maxItems": 255}}),
                "token_management_enabled": BOOL,
            }
        ),
        "settings": _obj(
            {
                "allowed_ip_address_ranges": STRS,
                "event_subscriptions": _obj(
                    {
                        "request_url": {"type": "string", "pattern": "^https://"},
                        "bot_events": {**STRS, "maxItems": 100},
                        "user_events": {**STRS, "maxItems": 100},
                    }
                ),
                "interactivity": _obj(
                    {
                        "is_enabled": BOOL,
                        "request_url": {"type": "string", "pattern": "^https://"},
                        "message_menu_options_url": STR,
                    },
                    required=("is_enabled",),
                ),
                "org_deploy_enabled": BOOL,
                "socket_mode_enabled": BOOL,
                "token_rotation_enabled": BOOL,
            }
        ),
    },
    required=("display_information",),
)

# Bot scopes each Web API method needs (Slack's method reference pages). conversations.replies needs
# the history scope of each conversation type it reads: we read threads in channels, private
# channels and DMs; conversations.history is read in DMs only (a DM conversation's earlier
# messages). chat.getPermalink, views.* and auth.test need none.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.getPermalink": set(),
    "conversations.replies": {"channels:history", "groups:history", "im:history"},
    "conversations.history": {"im:history"},
    "reactions.add": {"reactions:write"},
    "views.open": set(),
    "views.publish": set(),
}
# Bot events and the scope each one needs (Slack's events reference): message.channels and
# message.groups bring the follow-ups in threads the bot answered, message.im the direct messages.
EVENT_SCOPES = {
    "app_mention": {"app_mentions:read"},
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.im": {"im:history"},
    "app_home_opened": set(),
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def web_api_methods_in_code() -> set[str]:
    """Every `client.<method>(` call in bot/slack, as Slack method names (chat_postMessage → chat.postMessage)."""
    found: set[str] = set()
    for path in SLACK_CODE.glob("*.py"):
        for name in re.findall(r"\bclient\.([a-z]+_[A-Za-z]+)\(", path.read_text(encoding="utf-8")):
            family, _, method = name.partition("_")
            found.add(f"{family}.{method}")
    return found


def test_manifest_has_only_fields_slack_allows(manifest: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(MANIFEST_SCHEMA).validate(manifest)
    with pytest.raises(jsonschema.ValidationError):  # the schema does catch a misplaced field
        jsonschema.Draft7Validator(MANIFEST_SCHEMA).validate({**manifest, "event_subscriptions": {}})


def test_manifest_declares_what_the_code_listens_to(manifest: dict[str, Any]) -> None:
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == ["/kb"]
    assert [(s["type"], s["callback_id"], s["name"]) for s in features["shortcuts"]] == [
        ("message", blocks.SHORTCUT_DRAFT, "Draft reply from KB")
    ]
    assert set(settings["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    assert settings["interactivity"]["is_enabled"] is True and settings["socket_mode_enabled"] is True
    assert features["bot_user"]["display_name"]


def test_scopes_are_exactly_what_the_code_uses(manifest: dict[str, Any]) -> None:
    methods = web_api_methods_in_code()
    assert {"chat.postMessage", "chat.update", "conversations.replies", "views.open"} <= methods  # the scan works
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add the scopes of {unknown} to METHOD_SCOPES (and manifest.yml)"
    needed = set().union(*(METHOD_SCOPES[m] for m in methods))
    needed |= set().union(*(EVENT_SCOPES[e] for e in manifest["settings"]["event_subscriptions"]["bot_events"]))
    needed.add("commands")  # slash commands and shortcuts
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    assert granted == needed, f"missing {needed - granted}, unused {granted - needed}"
    assert "user" not in manifest["oauth_config"]["scopes"]
