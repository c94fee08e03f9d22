"""A rough timing check of the API key comparison (report only, never asserted in tests).

    python -m hardening.auth_timing [--rounds 200000]

Times ``mock_server.auth``'s verifier with five configured keys for a token matching the
first key, the last key, none (same length), a one-character prefix miss and a long junk
token, interleaved in random order so drift hits all alike. Writes reports/auth.md and
reports/auth.json: the medians (ns per check) should differ by no more than noise.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from typing import Any

from mock_server.auth import ApiError, make_verifier

from .common import env_int, write_json, write_text

KEYS = tuple(f"sk-timing-{n:02d}-" + "k" * 40 for n in range(5))
TOKENS = {
    "matches the 1st key": KEYS[0],
    "matches the 5th key": KEYS[-1],
    "no match, same length": "sk-timing-99-" + "k" * 40,
    "no match, differs in the 1st byte": "X" + KEYS[0][1:],
    "no match, differs in the last byte": KEYS[0][:-1] + "X",
    "no match, 1 KB junk": "j" * 1024,
}


class _Request:
    def __init__(self, token: str) -> None:
        self.headers = {"authorization": f"Bearer {token}"}


def measure(rounds: int, batch: int = 200) -> dict[str, Any]:
    verify = make_verifier(KEYS)
    requests = {name: _Request(token) for name, token in TOKENS.items()}
    samples: dict[str, list[float]] = {name: [] for name in TOKENS}
    names = list(TOKENS)
    rng = random.Random(1)
    for _ in range(max(rounds // batch, 1)):
        rng.shuffle(names)
        for name in names:
            request = requests[name]
            started = time.perf_counter_ns()
            for _ in range(batch):
                with contextlib.suppress(ApiError):
                    verify(request)
            samples[name].append((time.perf_counter_ns() - started) / batch)
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    match = [medians["matches the 1st key"], medians["matches the 5th key"]]
    miss = [medians[name] for name in ("no match, same length", "no match, differs in the 1st byte",
                                       "no match, differs in the last byte")]
    return {"rounds": rounds, "keys": len(KEYS), "median_ns_per_check": medians,
            "match_position_spread_ns": round(max(match) - min(match), 1),
            "match_position_spread_percent": round(100 * (max(match) - min(match)) / min(match), 1),
            "mismatch_position_spread_ns": round(max(miss) - min(miss), 1),
            "mismatch_position_spread_percent": round(100 * (max(miss) - min(miss)) / min(miss), 1),
            "note": "a refused key costs more than an accepted one because the refusal raises "
                    "(the 401 says so anyway); the 1 KB junk token costs more by its length. "
                    "What must not show is where the key matched or where a guess went wrong"}


def markdown(result: dict[str, Any]) -> str:
    rows = "\n".join(f"| {name} | {ns} |" for name, ns in result["median_ns_per_check"].items())
    return (f"# API key comparison timing (rough, not asserted)\n\n{result['keys']} keys configured, "
            f"{result['rounds']} checks per token, interleaved.\n\n| token | median ns per check |\n"
            f"|---|---|\n{rows}\n\nMatch position (1st vs 5th key): {result['match_position_spread_ns']} ns "
            f"({result['match_position_spread_percent']} %). Mismatch position (1st byte, last byte, "
            f"unrelated key): {result['mismatch_position_spread_ns']} ns "
            f"({result['mismatch_position_spread_percent']} %). {result['note']}.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=env_int("HARDENING_AUTH_ROUNDS", 200_000))
    args = parser.parse_args(argv)
    result = measure(args.rounds)
    write_json("auth.json", result)
    write_text("auth.md", markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
