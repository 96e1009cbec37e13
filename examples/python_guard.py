#!/usr/bin/env python3
"""An agent's tools guarded by libagentauthz, through the Python binding.

Loads a policy (argv[1], default examples/policy.yaml next to this file),
opens a session for a support agent bound to one customer and one refund
amount, and lets a scripted "agent" call its tools. Every tool is wrapped in
agentauthz.guard, so the policy is asked before the tool runs; a deny raises
Denied and the tool never runs. A large payment needs a human: the on_ask
hook stands in for one. Each line says what happened:

    allow  read_file   /kb/refunds.md
    deny   read_file   /srv/app/.env  [never-dotenv: dotenv files hold credentials]

The script also says what each call should get, so that it fails loudly (exit
1) if the library and the example policy ever disagree.

Run: AGENTAUTHZ_LIBRARY=lib/.libs/libagentauthz.so PYTHONPATH=bindings/python \\
         python3 examples/python_guard.py
"""

import os
import sys

from agentauthz import Denied, Engine, guard

HERE = os.path.dirname(os.path.abspath(__file__))
IDENTITY = "spiffe://corp.example/agents/support/7"
TASK = "resolve-ticket"


def make_tools(session, approve_large):
    """The agent's tools. A real runtime would do the work; these only say what they did."""

    @guard(session, resource="path")
    def read_file(path):
        return "contents of " + path

    @guard(session, destination=lambda a: a["to"][0])
    def send_email(to, subject, body=""):
        return "mailed %s" % ", ".join(to)

    @guard(session, tool="payments.refund")
    def refund(email, amount):
        return "refunded %s to %s" % (amount, email)

    @guard(session, on_ask=approve_large)
    def send_money(payee, amount):
        return "paid %s to %s" % (amount, payee)

    return read_file, send_email, refund, send_money


def human(decision):
    """Stands in for a person asked to approve: yes to one known payment."""
    args = decision.action.args
    print("#   asking a human about %s %s: yes" % (decision.action.tool, args["amount"]))
    return args["payee"] == "GB29NWBK60161331926819" and args["amount"] <= 5000


def run(tools):
    read_file, send_email, refund, send_money = tools
    script = [
        ("allow", read_file, {"path": "/tickets/4711.json"}),
        ("allow", read_file, {"path": "/kb/refunds.md"}),
        ("deny", read_file, {"path": "/srv/app/.env"}),
        ("allow", send_email, {"to": ["ops@corp.example"], "subject": "Ticket 4711"}),
        ("deny", send_email, {"to": ["eve@evil.example"], "subject": "fwd"}),
        ("allow", refund, {"email": "Alice@Customer.example", "amount": 30}),
        ("deny", refund, {"email": "mallory@evil.example", "amount": 30}),
        ("allow", send_money, {"payee": "GB29NWBK60161331926819", "amount": 2500}),
    ]
    failures = 0
    for expected, tool, kwargs in script:
        try:
            result = tool(**kwargs)
            got, detail = "allow", result
        except Denied as exc:
            d = exc.decision
            got, detail = d.effect, "[%s: %s]" % (d.rule, d.reason or "no rule allows it")
        print("%-5s  %-12s %s" % (got, tool.__name__, detail))
        if got != expected:
            print("python_guard: expected %s" % expected, file=sys.stderr)
            failures += 1
    return failures


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "policy.yaml")
    with Engine() as engine:
        engine.load(path)
        params = {"customer_email": "alice@customer.example", "max_refund": 50}
        with engine.session(IDENTITY, TASK, params=params, ttl=1800) as session:
            print("# session %s: %s as %s" % (session.id, TASK, IDENTITY))
            failures = run(make_tools(session, human))
            # Tool output goes back to the model scrubbed of the session's secrets.
            print("# scrubbed output:", session.scrub("nothing secret here"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
