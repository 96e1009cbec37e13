#!/usr/bin/env node
'use strict';
/*
 * agentauthz MCP gateway: a stdio MCP server that fronts a real MCP server
 * and checks every tools/call against an agentauthz policy.
 *
 *   node gateway.js --policy FILE --identity ID --task TASK [options] -- COMMAND [ARGS...]
 *
 * It spawns COMMAND as the real (upstream) MCP server and talks to it over
 * stdio as a client. Its own client (the agent's host) talks to it over its
 * stdin and stdout. For each client connection it opens one agentauthz
 * session (identity, task and parameters from the command line), and then:
 *
 *  - tools/list is forwarded unchanged;
 *  - tools/call is checked with the tool's name and its arguments as args;
 *    which arguments are resources (paths) and destinations is the policy
 *    catalogue's to say (tools: {move_file: {resources: [source,
 *    destination]}}), and the library checks every one of their values,
 *    normalised ("/root/../etc" is checked as "/etc"), so that no argument
 *    the gateway does not know about escapes the path rules;
 *  - an allowed call is forwarded, and every string of its result is
 *    scrubbed of the session's live secrets (agentauthz_scrub);
 *  - the scrubbed result is recorded for the session
 *    (agentauthz_session_observe) under the output labels the policy's
 *    tool catalogue gives the tool (tools: {read_text_file: {output:
 *    [untrusted]}}), so that rules can ask where a later call's arguments
 *    came from (from / not_from); a tool the catalogue gives no output
 *    labels is not recorded;
 *  - a denied call is answered with a tool result with isError: true whose
 *    text names the rule and the reason, and whose _meta.agentauthz holds
 *    the decision. A tool result rather than a JSON-RPC error, because the
 *    MCP specification reserves protocol errors for malformed requests and
 *    asks servers to report tool failures in the result, where the model
 *    can read them and change course;
 *  - an `ask` is denied the same way unless an approval hook allows it:
 *    --approve-all allows every ask, --approval-hook MODULE loads a module
 *    exporting approve({ tool, args, resource, decision }) that returns (or
 *    resolves to) true to allow. An allowed ask is approved for that exact
 *    call once (agentauthz_approve) and checked again.
 *
 * Options:
 *   --policy FILE       a policy file or directory (repeatable; loaded as one)
 *   --identity ID       the agent's workload identity
 *   --task TASK         the task the session is opened for
 *   --param NAME=VALUE  a string task parameter (repeatable)
 *   --params JSON       task parameters as a JSON object (typed values)
 *   --ttl SECONDS       the session's TTL (default: the policy's)
 *   --approve-all       approve every ask
 *   --approval-hook M   approve asks with module M's approve() function
 *   --verbose           log each decision (tool, effect, rule) to stderr
 *
 * Exit status: 0 when the client disconnects, 2 on a usage or policy error,
 * 1 when the upstream server cannot be started or goes away.
 */

const path = require('node:path');

const { Server } = require('@modelcontextprotocol/sdk/server/index.js');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport, getDefaultEnvironment } =
    require('@modelcontextprotocol/sdk/client/stdio.js');
const { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode } =
    require('@modelcontextprotocol/sdk/types.js');

const az = require(process.env.AGENTAUTHZ_NODE_BINDING ||
    path.join(__dirname, '..', '..', 'bindings', 'node'));

const VERSION = '0.1.0';
/* Results nest no deeper than this when scrubbed; deeper parts are refused. */
const SCRUB_DEPTH_MAX = 64;

class UsageError extends Error {}

const USAGE = 'usage: gateway.js --policy FILE --identity ID --task TASK [--param NAME=VALUE]... ' +
    '[--params JSON] [--ttl SECONDS] [--approve-all | --approval-hook MODULE] [--verbose] ' +
    '-- COMMAND [ARGS...]';

/* The command line as options; throws UsageError. */
function parseArgs(argv) {
    const o = { policies: [], params: {}, ttl: undefined, approveAll: false, hook: null,
        verbose: false, identity: null, task: null, command: null, commandArgs: [] };
    const value = (i, name) => {
        if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
        return argv[i + 1];
    };
    let i = 0;
    for (; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--') break;
        switch (a) {
        case '--policy': o.policies.push(value(i++, a)); break;
        case '--identity': o.identity = value(i++, a); break;
        case '--task': o.task = value(i++, a); break;
        case '--param': addParam(o.params, value(i++, a)); break;
        case '--params': Object.assign(o.params, parseParams(value(i++, a))); break;
        case '--ttl': o.ttl = parseTtl(value(i++, a)); break;
        case '--approve-all': o.approveAll = true; break;
        case '--approval-hook': o.hook = value(i++, a); break;
        case '--verbose': o.verbose = true; break;
        case '-h': case '--help': throw new UsageError('');
        default: throw new UsageError(`unknown option ${JSON.stringify(a)}`);
        }
    }
    if (i >= argv.length - 1) throw new UsageError('missing -- COMMAND: the upstream MCP server');
    o.command = argv[i + 1];
    o.commandArgs = argv.slice(i + 2);
    if (!o.policies.length) throw new UsageError('missing --policy');
    if (!o.identity) throw new UsageError('missing --identity');
    if (!o.task) throw new UsageError('missing --task');
    if (o.approveAll && o.hook) throw new UsageError('--approve-all and --approval-hook exclude each other');
    return o;
}

function addParam(params, text) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param takes NAME=VALUE, not ${JSON.stringify(text)}`);
    params[text.slice(0, eq)] = text.slice(eq + 1);
}

function parseParams(text) {
    let v;
    try {
        v = JSON.parse(text);
    } catch (e) {
        throw new UsageError(`--params: ${e.message}`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new UsageError('--params takes a JSON object');
    }
    return v;
}

function parseTtl(text) {
    const n = Number(text);
    if (!(n > 0) || !Number.isFinite(n)) throw new UsageError('--ttl takes a positive number of seconds');
    return n;
}

/* The approval hook: a function (request) -> boolean | Promise<boolean>, or null. */
function loadHook(options) {
    if (options.approveAll) return () => true;
    if (!options.hook) return null;
    const mod = require(path.resolve(options.hook));
    const fn = typeof mod === 'function' ? mod : mod && mod.approve;
    if (typeof fn !== 'function') {
        throw new UsageError(`${options.hook} exports no approve() function`);
    }
    return fn;
}

/*
 * The action a tools/call asks for, as agentauthz sees it: the tool and its
 * arguments. No resource is picked here: the policy's catalogue names the
 * resource and destination arguments of each tool (agentauthz-policy(5),
 * RESOURCE AND DESTINATION ARGUMENTS), and the library checks them all.
 */
function actionOf(name, args) {
    return { tool: name, args: args || {} };
}

/* The answer to a call the policy did not allow; info is a decision's JSON form. */
function refusal(name, info, why) {
    const reason = info.reason ? `: ${info.reason}` : '';
    const text = `agentauthz ${why} ${JSON.stringify(name)} (rule ${info.rule}${reason})`;
    return {
        content: [{ type: 'text', text }],
        isError: true,
        _meta: { agentauthz: info },
    };
}

/*
 * A copy of v with every string scrubbed of the session's secrets. Keys are
 * scrubbed too, since a tool can name a map entry after anything it read.
 */
function scrubDeep(session, v, depth) {
    if (typeof v === 'string') return session.scrub(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth > SCRUB_DEPTH_MAX) throw new McpError(ErrorCode.InternalError, 'result nests too deeply');
    if (Array.isArray(v)) return v.map((x) => scrubDeep(session, x, depth + 1));
    const out = {};
    for (const [k, x] of Object.entries(v)) out[session.scrub(k)] = scrubDeep(session, x, depth + 1);
    return out;
}

/*
 * One client connection: its session, and the handlers that check and
 * forward its calls to the upstream client.
 */
class Connection {
    constructor(engine, upstream, options, hook, log) {
        this.upstream = upstream;
        this.hook = hook;
        this.log = log;
        this.session = engine.session(options.identity, options.task,
            { params: options.params, ttl: options.ttl });
    }

    async listTools(request) {
        return this.upstream.listTools(request.params);
    }

    async callTool(request, extra) {
        const { name } = request.params;
        const args = request.params.arguments;
        let req;
        let decision;
        try {
            req = actionOf(name, args);
            decision = this.session.check(req);
        } catch (e) {
            // A request the binding refuses to encode (a NUL in the name,
            // arguments that are not JSON) is never forwarded.
            this.log(`${name}: refused: ${e.message}`);
            return refusal(name, { effect: 'deny', rule: 'gateway', reason: e.message, seq: 0,
                allowed: false }, 'refused');
        }
        if (decision.effect === 'ask') decision = await this.askHook(req, decision);
        this.log(`${name}: ${decision.effect} (rule ${decision.rule})`);
        if (!decision.allowed) {
            const why = decision.effect === 'ask' ? 'needs approval for' : 'denied';
            return refusal(name, decision.toJSON(), why);
        }
        return this.forward(name, args, extra);
    }

    /* Asks the hook about an ask; returns the decision to act on. */
    async askHook(req, decision) {
        if (!this.hook) return decision;
        let ok = false;
        try {
            ok = (await this.hook({ tool: req.tool, args: req.args, resource: req.resource,
                decision: decision.toJSON() })) === true;
        } catch (e) {
            this.log(`${req.tool}: the approval hook failed: ${e.message}`);
        }
        if (!ok) return decision;
        this.session.approve(decision);
        return this.session.check(req);
    }

    async forward(name, args, extra) {
        let result;
        try {
            result = await this.upstream.callTool({ name, arguments: args }, undefined,
                { signal: extra && extra.signal });
        } catch (e) {
            const code = e instanceof McpError ? e.code : ErrorCode.InternalError;
            throw new McpError(code, this.session.scrub(String(e.message || e)));
        }
        const scrubbed = scrubDeep(this.session, result, 0);
        this.observe(name, scrubbed);
        return scrubbed;
    }

    /*
     * Records a result for the session's from / not_from rules, labelled by
     * the policy's catalogue. The library refuses an observation with no
     * label (EINVAL): the tool has no output labels, and nothing is
     * recorded. Any other failure (an output over the task's bounds) is
     * reported; the library then denies the checks whose answer depends on
     * what it could not record.
     */
    observe(name, result) {
        try {
            this.session.observe(name, result);
        } catch (e) {
            if (e.code !== 'EINVAL') process.stderr.write(`gateway: ${name}: observe: ${e.message}\n`);
        }
    }

    close() {
        this.session.close();
    }
}

/* Starts the upstream server and connects to it as a client. */
async function connectUpstream(options) {
    const transport = new StdioClientTransport({
        command: options.command,
        args: options.commandArgs,
        env: getDefaultEnvironment(),
        stderr: 'inherit',
    });
    const client = new Client({ name: 'agentauthz-mcp-gateway', version: VERSION });
    await client.connect(transport);
    return client;
}

/* Serves one client on transport until it goes away; resolves then. */
async function serve(engine, upstream, options, hook, log, transport) {
    const conn = new Connection(engine, upstream, options, hook, log);
    const server = new Server({ name: 'agentauthz-mcp-gateway', version: VERSION },
        { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, (r) => conn.listTools(r));
    server.setRequestHandler(CallToolRequestSchema, (r, extra) => conn.callTool(r, extra));
    const closed = new Promise((resolve) => {
        server.onclose = resolve;
    });
    await server.connect(transport);
    // The SDK's stdio transport does not notice that stdin ended: close it then.
    process.stdin.once('end', () => transport.close());
    await closed;
    conn.close();
}

async function main(argv) {
    let options;
    let hook;
    const engine = new az.Engine({ name: 'mcp-gateway' });
    try {
        options = parseArgs(argv);
        hook = loadHook(options);
        engine.load(...options.policies);
    } catch (e) {
        engine.close();
        if (e instanceof UsageError) {
            process.stderr.write(`${e.message ? 'gateway: ' + e.message + '\n' : ''}${USAGE}\n`);
            return 2;
        }
        if (e instanceof az.PolicyError) {
            for (const d of e.diagnostics) process.stderr.write(`gateway: ${d}\n`);
            return 2;
        }
        throw e;
    }
    const log = options.verbose ? (m) => process.stderr.write(`gateway: ${m}\n`) : () => {};
    let upstream;
    try {
        upstream = await connectUpstream(options);
    } catch (e) {
        process.stderr.write(`gateway: cannot start the upstream server: ${e.message}\n`);
        engine.close();
        return 1;
    }
    let status = 0;
    const transport = new StdioServerTransport();
    upstream.onclose = () => {
        process.stderr.write('gateway: the upstream server went away\n');
        status = 1;
        transport.close();
    };
    try {
        await serve(engine, upstream, options, hook, log, transport);
    } catch (e) {
        process.stderr.write(`gateway: ${e.message}\n`);
        status = 2;
    } finally {
        upstream.onclose = undefined;
        await upstream.close().catch(() => {});
        engine.close();
    }
    return status;
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
        process.stderr.write(`gateway: ${e.stack || e}\n`);
        process.exit(1);
    });
}

module.exports = { parseArgs, actionOf, refusal, scrubDeep, Connection, main, UsageError };
