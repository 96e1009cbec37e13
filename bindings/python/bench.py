#!/usr/bin/env python3
"""Prints the cost of one check with four string arguments through the binding.

The median over many batches of the thread's CPU time per check is reported
(and the wall time beside it), so that a busy machine's outliers do not count. Run: AGENTAUTHZ_LIBRARY=lib/.libs/libagentauthz.so
PYTHONPATH=bindings/python python3 bindings/python/bench.py [batches]
"""

import statistics
import sys
import time

from agentauthz import Engine

POLICY = """\
agentauthz: 1
tasks: {mail: {}}
rules:
  - id: mail-inside
    effect: allow
    tools: [send_email]
    where:
      args.to: { domain: [corp.example] }
"""
ARGS = {"to": "ops@corp.example", "subject": "Ticket 4711", "body": "The refund was issued.",
        "reply_to": "support@corp.example"}
BATCH = 1000


def main():
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with Engine() as engine:
        engine.load_string(POLICY)
        with engine.session("agent/1", "mail") as s:
            check = s.check
            assert check("send_email", args=ARGS), "the benchmark's check must be allowed"
            for _ in range(BATCH):  # warm up
                check("send_email", args=ARGS)
            wall, cpu = [], []
            for _ in range(batches):
                c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
                for _ in range(BATCH):
                    check("send_email", args=ARGS)
                t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
                wall.append((t1 - t0) / BATCH / 1000.0)
                cpu.append((c1 - c0) / BATCH / 1000.0)
    # Wall time includes the time other processes hold the CPU; the thread's
    # CPU time does not, and is what one check costs on a busy machine.
    print("python: one check with four string arguments: %.2f us (median of %d batches of %d;"
          " wall %.2f us, best %.2f us)" % (statistics.median(cpu), batches, BATCH,
                                            statistics.median(wall), min(wall)))

if __name__ == "__main__":
    main()
