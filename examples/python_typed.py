#!/usr/bin/env python3
"""A typed program using the agentauthz binding: `mypy --strict` accepts it.

make check type-checks it against the installed wheel and runs it:
    mypy --strict examples/python_typed.py
    python3 examples/python_typed.py examples/policy.yaml
"""

from __future__ import annotations

import sys
from typing import Callable, Dict, List, Optional

from agentauthz import Decision, Denied, Engine, PolicyError, Session, guard

IDENTITY = "spiffe://corp.example/agents/support/7"


def read_tool(session: Session) -> Callable[[str], str]:
    @guard(session, resource="path")
    def read_file(path: str) -> str:
        return "contents of " + path

    return read_file


def decide(session: Session, tool: str, resource: Optional[str] = None,
           args: Optional[Dict[str, object]] = None) -> Decision:
    decision: Decision = session.check(tool, resource=resource, args=args)
    rule: str = decision.rule
    reason: str = decision.reason
    print("%-5s  %-16s [%s%s]" % (decision.effect, tool, rule, ": " + reason if reason else ""))
    return decision


def main(argv: List[str]) -> int:
    path = argv[1] if len(argv) > 1 else "examples/policy.yaml"
    with Engine() as engine:
        try:
            engine.load(path)
        except PolicyError as exc:
            print("%s:%d:%d: %s" % (exc.file, exc.line, exc.column, exc.message))
            return 1
        params: Dict[str, object] = {"customer_email": "alice@customer.example",
                                     "max_refund": 50}
        with engine.session(IDENTITY, "resolve-ticket", params=params, ttl=600) as s:
            ok = bool(decide(s, "read_file", resource="/kb/refunds.md"))
            ok = ok and not decide(s, "read_file", resource="/srv/app/.env")
            ok = ok and bool(decide(s, "payments.refund",
                                    args={"email": "alice@customer.example", "amount": 30}))
            read_file = read_tool(s)
            try:
                read_file("/srv/app/.env")
                ok = False
            except Denied as exc:
                print("denied by", exc.decision.rule)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
