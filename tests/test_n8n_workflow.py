"""The n8n example (examples/n8n/kb-ticket-workflow.json): a valid graph that answers every webhook
call, calls a real route of the API, never retries a 4xx, and whose expressions, evaluated the way
n8n does (JavaScript, with Node.js), turn a real answer into the reply and the Slack escalation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.http.app import build_http_app
from rag.engine import Engine
from tests.conftest import ROOT, make_settings

KEY = "n8n-key"
WORKFLOW = ROOT / "examples" / "n8n" / "kb-ticket-workflow.json"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
STICKY = "n8n-nodes-base.stickyNote"


@pytest.fixture
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
async def client(aiohttp_client: ClientFactory, engine: Engine, data_dir: Path) -> TestClient[Any, Any]:
    return await aiohttp_client(build_http_app(engine, make_settings(data_dir, kb_api_keys=KEY)))


def by_name(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in workflow["nodes"]}


def targets(workflow: dict[str, Any], name: str) -> list[list[str]]:
    """The nodes each output of `name` leads to ([] for an output left open)."""
    outputs = workflow["connections"].get(name, {}).get("main", [])
    return [[link["node"] for link in branch] for branch in outputs]


def paths(workflow: dict[str, Any], start: str) -> list[list[str]]:
    """Every path from `start` to where the flow stops (a node without outputs, or an open output)."""
    outs = targets(workflow, start)
    if not outs or any(not branch for branch in outs):
        tails: list[list[str]] = [[]]
    else:
        tails = []
    for branch in outs:
        for nxt in branch:
            tails += paths(workflow, nxt)
    return [[start, *tail] for tail in tails]


# --- the graph ------------------------------------------------------------------------------------
def test_every_node_is_connected_and_every_path_answers_the_webhook(workflow: dict[str, Any]) -> None:
    nodes = by_name(workflow)
    assert len(nodes) == len(workflow["nodes"]) and len({n["id"] for n in workflow["nodes"]}) == len(nodes)
    for source, outputs in workflow["connections"].items():
        assert source in nodes, source
        for branch in outputs["main"]:
            assert all(link["node"] in nodes and link["type"] == "main" for link in branch), source
    [webhook] = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.webhook"]
    reachable = {name for path in paths(workflow, webhook["name"]) for name in path}
    working = {name for name, node in nodes.items() if node["type"] != STICKY}
    assert reachable == working, f"dangling: {working - reachable}"
    for path in paths(workflow, webhook["name"]):
        responds = [n for n in path if nodes[n]["type"] == "n8n-nodes-base.respondToWebhook"]
        assert len(responds) == 1, path  # every call gets exactly one answer
    assert webhook["parameters"]["responseMode"] == "responseNode"
    assert webhook["parameters"]["authentication"] == "headerAuth" and webhook["credentials"]["httpHeaderAuth"]
    assert webhook["parameters"]["httpMethod"] == "POST"


def test_the_api_call_uses_header_auth_and_never_retries(
    workflow: dict[str, Any], client: TestClient[Any, Any]
) -> None:
    nodes = by_name(workflow)
    requests = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.httpRequest"]
    assert requests and all(n.get("retryOnFail") is not True for n in requests)  # a 4xx is not worth a retry
    ask = nodes["Ask kb-rag"]
    params = ask["parameters"]
    assert client.app is not None
    routes = {(r.method, r.resource.canonical) for r in client.app.router.routes() if r.resource is not None}
    assert (params["method"], urlsplit(params["url"]).path) in routes
    assert params["authentication"] == "genericCredentialType" and params["genericAuthType"] == "httpHeaderAuth"
    assert "X-API-Key" in ask["credentials"]["httpHeaderAuth"]["name"]
    response = params["options"]["response"]["response"]
    assert response["neverError"] is True and response["fullResponse"] is True  # 4xx/5xx go to the IF, not a retry
    assert ask["onError"] == "continueErrorOutput" and len(targets(workflow, "Ask kb-rag")) == 2

    slack = nodes["Post escalation to Slack"]
    assert slack["parameters"]["url"] == "https://slack.com/api/chat.postMessage"
    assert slack["parameters"]["nodeCredentialType"] == "slackApi" and slack["credentials"]["slackApi"]
    escalate = nodes["Escalate?"]["parameters"]["conditions"]["conditions"][0]
    assert escalate["leftValue"] == "={{ $json.decision }}" and escalate["rightValue"] == "escalate"
    assert targets(workflow, "Escalate?") == [["Post escalation to Slack"], []]


# --- the expressions, run with Node.js on real answers ------------------------------------------------------
EVALUATE = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ctx = input.context;
const $json = ctx.json;
const $ = (name) => ({ item: { json: ctx.nodes[name] } });
const $execution = { id: ctx.executionId };
const run = (code) =>
  Function('$json', '$', '$execution', '"use strict"; return (' + code + ');')($json, $, $execution);
const out = {};
for (const [name, expr] of Object.entries(input.expressions)) {
  if (typeof expr !== 'string' || !expr.startsWith('=')) { out[name] = expr; continue; }
  const body = expr.slice(1);
  const whole = body.match(/^\{\{([\s\S]*)\}\}$/);
  out[name] = whole ? run(whole[1]) : body.replace(/\{\{([\s\S]*?)\}\}/g, (_, code) => String(run(code)));
}
process.stdout.write(JSON.stringify(out));
"""


def n8n_eval(expressions: dict[str, Any], json_item: Any, nodes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate n8n expressions (`={{ js }}`, or text with `{{ js }}` inside) as n8n does."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed: the workflow's JavaScript expressions cannot be evaluated")
    for expr in expressions.values():
        if isinstance(expr, str):
            for code in re.findall(r"\{\{([\s\S]*?)\}\}", expr):
                assert "{{" not in code, expr  # n8n ends an expression at the first }}
    payload = {"expressions": expressions, "context": {"json": json_item, "nodes": nodes or {}, "executionId": "4711"}}
    done = subprocess.run([node, "-e", EVALUATE], input=json.dumps(payload), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def condition(node: dict[str, Any]) -> dict[str, Any]:
    cond: dict[str, Any] = node["parameters"]["conditions"]["conditions"][0]
    return cond


@pytest.mark.parametrize(
    ("ticket", "escalates"),
    [
        ("I forgot my password and the reset e-mail never arrives", False),
        ("My suitcase never arrived after my flight, how do I file a lost baggage claim?", True),
    ],
)
async def test_a_webhook_call_becomes_a_reply_and_an_escalation_becomes_a_slack_post(
    workflow: dict[str, Any], client: TestClient[Any, Any], ticket: str, escalates: bool
) -> None:
    nodes = by_name(workflow)
    hook = {"body": {"ticket": ticket, "customer": "ana@example.com"}, "headers": {"x-webhook-token": "s"}}

    ask = nodes["Ask kb-rag"]["parameters"]
    request = n8n_eval(
        {"body": ask["jsonBody"], **{h["name"]: h["value"] for h in ask["headerParameters"]["parameters"]}}, hook
    )
    assert request["X-Request-ID"] == request["Idempotency-Key"] == "n8n-4711"
    resp = await client.post(
        urlsplit(ask["url"]).path,
        data=request["body"],
        headers={"X-API-Key": KEY, "Content-Type": "application/json", "X-Request-ID": request["X-Request-ID"]},
    )
    response = {"statusCode": resp.status, "body": await resp.json(), "headers": dict(resp.headers)}
    assert resp.status == 200

    answered = condition(nodes["kb-rag answered?"])
    assert n8n_eval({"left": answered["leftValue"]}, response)["left"] == answered["rightValue"]
    shape = nodes["Shape the reply"]["parameters"]["assignments"]["assignments"]
    reply = n8n_eval({a["name"]: a["value"] for a in shape}, response)
    answer = response["body"]
    assert set(reply) == {"request_id", "decision", "badge", "confidence", "required_data", "draft", "sources"}
    assert (reply["request_id"], reply["draft"], reply["required_data"]) == (
        "n8n-4711",
        answer["draft"],
        answer["required_data"],
    )
    badge = r"(🟢|🟡|🔴) (high|medium|low) confidence \(\d\.\d\d\) · (answer|review|escalate)"
    assert re.fullmatch(badge, reply["badge"])
    assert reply["sources"] == [{"title": s["title"], "url": s["url"]} for s in answer["sources"]]
    assert nodes["Reply with draft"]["parameters"]["respondWith"] == "firstIncomingItem"  # the shaped reply, as is

    escalate = condition(nodes["Escalate?"])
    assert (n8n_eval({"left": escalate["leftValue"]}, reply)["left"] == "escalate") is escalates
    assert (answer["decision"] == "escalate") is escalates
    slack = nodes["Post escalation to Slack"]["parameters"]
    post = n8n_eval({"body": slack["jsonBody"]}, reply, {"Ticket webhook": hook})
    message = json.loads(post["body"])
    assert message["channel"] == "#support-escalations" and "n8n-4711" in message["text"]
    assert ticket in message["text"] and reply["badge"] in message["text"]


@pytest.mark.parametrize(("status", "relayed"), [(422, 422), (429, 429), (401, 502), (403, 502), (503, 502)])
def test_kb_rag_errors_are_relayed_in_its_error_shape(workflow: dict[str, Any], status: int, relayed: int) -> None:
    respond = by_name(workflow)["Reply with kb-rag's error"]["parameters"]
    error = {"error": {"code": "invalid_fields", "message": "Invalid request: ticket", "request_id": "n8n-4711"}}
    out = n8n_eval(
        {"code": respond["options"]["responseCode"], "body": respond["responseBody"]},
        {"statusCode": status, "body": error},
    )
    assert out["code"] == relayed
    assert json.loads(out["body"]) == {"error": error["error"], "kb_rag_status": status}


def test_kb_rag_unreachable_is_a_502_that_says_so(workflow: dict[str, Any]) -> None:
    respond = by_name(workflow)["Reply: kb-rag unreachable"]["parameters"]
    assert respond["options"]["responseCode"] == 502
    out = n8n_eval({"body": respond["responseBody"]}, {"error": {"message": "connect ECONNREFUSED 127.0.0.1:8000"}})
    body = json.loads(out["body"])
    assert body["error"]["code"] == "kb_rag_unreachable" and "ECONNREFUSED" in body["error"]["message"]
