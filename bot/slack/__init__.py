"""The Slack door (Bolt for Python, async): mentions, /kb, DMs, the message shortcut, buttons, App Home.

from bot.slack import attach, build_slack_app
attach(web_app, engine, settings)      # bot.server: HTTP mode route or Socket Mode, per settings
"""

from __future__ import annotations

from bot.slack.app import SLACK_APP, attach, build_slack_app, slack_mode

__all__ = ["SLACK_APP", "attach", "build_slack_app", "slack_mode"]
