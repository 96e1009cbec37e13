'use strict';
/*
 * The cost of one check with four string arguments through the binding
 * (target: at most 2 µs on the project's machine). Prints one line:
 *
 *     node: check with 4 args: 1.23 us/op CPU, 1.30 us/op wall (N checks; target 2 us)
 *
 * AGENTAUTHZ_LIBRARY names the library; BENCH_N the number of checks.
 */

const { Engine } = require('./index');

const POLICY = `agentauthz: 1
name: bench
tasks:
  work: {}
rules:
  - id: mail-inside
    effect: allow
    tools: [send_email]
    where:
      args.to: { domain: [corp.example] }
      args.subject: { len_lte: 200 }
`;

function main() {
    const n = Number(process.env.BENCH_N || 200000);
    const engine = new Engine();
    engine.loadString(POLICY, 'bench.yaml');
    const s = engine.session('agent/bench', 'work', { ttl: 3600 });
    const req = {
        tool: 'send_email',
        args: { to: 'ops@corp.example', subject: 'Refund for order 4411', body: 'Hello, your refund is on its way.', cc: 'lead@corp.example' },
    };
    const first = s.check(req);
    if (!first.allowed) throw new Error(`the benchmark's check is not allowed: ${first}`);
    // Warm up the JIT and the library's caches before timing.
    for (let i = 0; i < 20000; i++) s.check(req);
    // CPU time as well as wall time: on a shared, loaded machine the wall
    // time also counts the time other processes held the CPU.
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let allowed = 0;
    for (let i = 0; i < n; i++) if (s.check(req).allowed) allowed++;
    const wall = Number(process.hrtime.bigint() - t0) / n;
    const used = process.cpuUsage(cpu0);
    const cpu = ((used.user + used.system) * 1000) / n;
    if (allowed !== n) throw new Error(`only ${allowed} of ${n} checks were allowed`);
    console.log(`node: check with 4 args: ${(cpu / 1000).toFixed(2)} us/op CPU, ` +
        `${(wall / 1000).toFixed(2)} us/op wall (${n} checks; target 2 us)`);
    s.close();
    engine.close();
}

main();
