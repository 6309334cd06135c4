"""Fuzz the HTTP API from its own /openapi.json with schemathesis: 0 server errors, one error shape.

    pip install -e ".[bench]"
    python bench/schemathesis_run.py                      # spawns `kb serve` on a free loopback port
    python bench/schemathesis_run.py --max-examples 200 --seed 7

Runs `schemathesis run --checks all` (server errors, status codes, content types, headers,
response schemas, negative data rejected, valid data accepted, unsupported methods, ignored
auth, ...) plus the `one_error_shape` check of bench/schemathesis_hooks.py, then prints the
number of generated cases, failures and errors. Exits non-zero on any failure or when fewer
than --min-cases cases were generated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from http_load import spawn_server, wait_ready

BENCH = Path(__file__).resolve().parent


def run(args: argparse.Namespace) -> int:
    proc, base, data_dir = spawn_server(args.api_key, "WARNING")
    out = Path(tempfile.mkdtemp(prefix="kb-schemathesis-"))
    try:
        asyncio.run(wait_ready(base, proc))
        report, tally, config = out / "report.json", out / "tally.json", out / "schemathesis.toml"
        # The key goes through the spec's security scheme (not a global -H header), so that the
        # auth checks (ignored_auth, missing_required_header) can leave it out on purpose.
        config.write_text(f'[auth.openapi.ApiKeyAuth]\napi_key = "{args.api_key}"\n')
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            "KB_SCHEMATHESIS_TALLY": str(tally),
            "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")]),
        }
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--seed",
            str(args.seed),
            "--workers",
            str(args.workers),
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ]
        completed = subprocess.run(command, env=env, cwd=out, check=False)
        result = json.loads(report.read_text())
        counts = json.loads(tally.read_text()) if tally.exists() else {}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    cases = result["test_cases"]
    failures = sum(f["count"] for f in result["failures"])
    server_errors = sum(v for k, v in counts.items() if k.startswith("status_5"))
    error_responses = sum(v for k, v in counts.items() if k.startswith("status_") and int(k[7:]) >= 400)
    statuses = ", ".join(f"{k[7:]}: {v}" for k, v in sorted(counts.items()) if k.startswith("status_"))
    print(
        f"\nschemathesis {result['schemathesis_version']}, seed {result['seed']}: "
        f"{cases['generated']} generated cases, {failures} failures, {len(result['errors'])} errors, "
        f"{server_errors} server errors (5xx)"
    )
    print(f"responses checked by status: {statuses}")
    print(f"error responses in the one JSON shape: {counts.get('errors_in_shape', 0)} of {error_responses}")
    ok = (
        completed.returncode == 0
        and failures == 0
        and not result["errors"]
        and server_errors == 0
        and cases["generated"] >= args.min_cases
        and counts.get("errors_in_shape", 0) == error_responses
    )
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api-key", default="schemathesis-key")
    p.add_argument("--max-examples", type=int, default=300, help="cases per operation and phase")
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--min-cases", type=int, default=500)
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(run(parse_args()))
