/*
 * Conformance of the decision procedure: every field and predicate of
 * policy.md, table-driven, then the decision rules (deny over ask over
 * allow, defaults, limits, labels, approvals).
 */
#include "testutil.h"

static const char *const policy_template =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"agent/*\", roles: [r1] }\n"
    "  - { match: \"agent/admin\", roles: [admin] }\n"
    "lists:\n"
    "  doms: [corp.example, corp-mail.example]\n"
    "  scalars: [string, number]\n"
    "tools:\n"
    "  read_file: { produces: [internal] }\n"
    "  http.post: { sink: true }\n"
    "tasks:\n"
    "  t:\n"
    "    params: { who: string, max: number, okdoms: list, flag: bool, pat: string, few: number,"
    " tpat: string }\n"
    "rules:\n"
    "  - id: r\n"
    "    effect: allow\n"
    "    tasks: [t]\n"
    "    tools: [\"*\"]\n"
    "    where: %s\n";

static const char *const params =
    "{\"who\":\"Bob@X.example\",\"max\":100,\"okdoms\":[\"corp.example\"],\"flag\":true,"
    "\"pat\":\"/home/*\",\"few\":2,\"tpat\":\"github.*\"}";

typedef struct where_case {
    const char *where;
    const char *action;
    bool match;
} where_case;

static const where_case cases[] = {
    /* fields */
    {"{ tool: read_file }", "{\"tool\":\"read_file\"}", true},
    {"{ tool: write_file }", "{\"tool\":\"read_file\"}", false},
    {"{ identity: { glob: \"agent/*\" } }", "{\"tool\":\"x\"}", true},
    {"{ identity: { prefix: other } }", "{\"tool\":\"x\"}", false},
    {"{ roles: { has: r1 } }", "{\"tool\":\"x\"}", true},
    {"{ roles: { has: admin } }", "{\"tool\":\"x\"}", false},
    {"{ task: t }", "{\"tool\":\"x\"}", true},
    {"{ resource: { glob: \"/kb/**\" } }", "{\"tool\":\"x\",\"resource\":\"/kb/a/b.md\"}", true},
    {"{ resource: { glob: \"/kb/**\" } }", "{\"tool\":\"x\",\"resource\":\"/kbx/a\"}", false},
    {"{ resource: { glob: \"/kb/*\" } }", "{\"tool\":\"x\",\"resource\":\"/kb/a/b.md\"}", false},
    {"{ resource: { glob: \"/kb/**\" } }", "{\"tool\":\"x\"}", false},
    {"{ resource: { exists: false } }", "{\"tool\":\"x\"}", true},
    {"{ resource: { exists: true } }", "{\"tool\":\"x\"}", false},
    {"{ resource: { not: { glob: \"/x/**\" } } }", "{\"tool\":\"x\"}", true},
    {"{ resource: { not: { glob: \"/x/**\" } } }", "{\"tool\":\"x\",\"resource\":\"/x/y\"}",
     false},
    {"{ resource: { prefix: /tmp/ } }", "{\"tool\":\"x\",\"resource\":\"/tmp/a\"}", true},
    {"{ resource: { prefix: [/a/, /tmp/] } }", "{\"tool\":\"x\",\"resource\":\"/tmp/a\"}", true},
    {"{ resource: { suffix: .md } }", "{\"tool\":\"x\",\"resource\":\"/a.MD\"}", false},
    {"{ resource: { suffix: .md, icase: true } }", "{\"tool\":\"x\",\"resource\":\"/a.MD\"}",
     true},
    {"{ resource: { glob: \"/KB/**\", icase: true } }", "{\"tool\":\"x\",\"resource\":\"/kb/x\"}",
     true},
    /* destinations and domains */
    {"{ destination: { domain: { list: doms } } }",
     "{\"tool\":\"x\",\"destination\":\"https://api.corp.example/x\"}", true},
    {"{ destination: { domain: { list: doms } } }",
     "{\"tool\":\"x\",\"destination\":\"evil.com\"}", false},
    {"{ destination: { domain: { list: doms } } }",
     "{\"tool\":\"x\",\"destination\":\"corp.example.evil.com\"}", false},
    {"{ destination: { domain: { list: doms } } }",
     "{\"tool\":\"x\",\"destination\":[\"a@corp.example\",\"b@evil.com\"]}", false},
    {"{ destination: { domain: { list: doms } } }",
     "{\"tool\":\"x\",\"destination\":[\"a@corp.example\",\"b@corp-mail.example\"]}", true},
    {"{ destination: { domain: [ { list: doms }, partner.example ] } }",
     "{\"tool\":\"x\",\"destination\":\"x.partner.example:443\"}", true},
    {"{ destination: { not: { domain: [corp.example] } } }", "{\"tool\":\"x\"}", true},
    {"{ destination: { list: doms } }", "{\"tool\":\"x\",\"destination\":\"corp.example\"}",
     true},
    /* each and some on a scalar see a one-element list; a list of one stays a list */
    {"{ destination: { each: { domain: [corp.example] } } }",
     "{\"tool\":\"x\",\"destination\":\"a@corp.example\"}", true},
    {"{ destination: { each: { domain: [corp.example] } } }",
     "{\"tool\":\"x\",\"destination\":\"a@corp.example.evil.com\"}", false},
    {"{ destination: { some: { not: { domain: [corp.example] } } } }",
     "{\"tool\":\"x\",\"destination\":\"bob@evil.com\"}", true},
    {"{ destination: { some: { not: { domain: [corp.example] } } } }",
     "{\"tool\":\"x\",\"destination\":\"bob@corp.example\"}", false},
    {"{ destination: { some: { not: { domain: [corp.example] } } } }",
     "{\"tool\":\"x\",\"destination\":[\"bob@evil.com\"]}", true},
    {"{ destination: { some: { not: { domain: [corp.example] } } } }",
     "{\"tool\":\"x\",\"destination\":[\"bob@corp.example\"]}", false},
    {"{ destination: { type: list } }", "{\"tool\":\"x\",\"destination\":[\"a@corp.example\"]}",
     true},
    {"{ destination: { type: list } }", "{\"tool\":\"x\",\"destination\":\"a@corp.example\"}",
     false},
    {"{ destination: { exists: true } }", "{\"tool\":\"x\",\"destination\":[]}", true},
    {"{ destination: { len_lte: 0 } }", "{\"tool\":\"x\",\"destination\":[]}", true},
    {"{ destination: { some: { domain: [corp.example] } } }",
     "{\"tool\":\"x\",\"destination\":[]}", false},
    {"{ args.to: { some: { suffix: \"@evil\" } } }", "{\"tool\":\"x\",\"args\":{\"to\":\"x@evil\"}}",
     true},
    {"{ args.to: { each: { suffix: \"@corp.example\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":\"x@evil\"}}", false},
    {"{ args.to: { each: { suffix: \"@corp.example\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":\"x@corp.example\"}}", true},
    {"{ args.to: { some: { suffix: \"@corp.example\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":{\"a\":\"x@corp.example\"}}}", false},
    /* has: a scalar is a list of one, so a deny for one recipient catches it */
    {"{ destination: { has: bob@evil.example } }",
     "{\"tool\":\"x\",\"destination\":\"bob@evil.example\"}", true},
    {"{ destination: { has: bob@evil.example } }",
     "{\"tool\":\"x\",\"destination\":\"bob@evil.exampl\"}", false},
    {"{ destination: { has: [bob@evil.example, eve@evil.example] } }",
     "{\"tool\":\"x\",\"destination\":\"bob@evil.example\"}", false},
    {"{ args.to: { has: 7 } }", "{\"tool\":\"x\",\"args\":{\"to\":7}}", true},
    {"{ args.to: { has: x } }", "{\"tool\":\"x\",\"args\":{\"to\":{\"x\":1}}}", false},
    {"{ args.to: { has: x } }", "{\"tool\":\"x\",\"args\":{\"to\":null}}", false},
    /* issue 9 item 2: over tool names '.' separates segments, for globs and glob parameters */
    {"{ tool: { glob: \"github.*\" } }", "{\"tool\":\"github.issue\"}", true},
    {"{ tool: { glob: \"github.*\" } }", "{\"tool\":\"github.repo.push\"}", false},
    {"{ tool: { glob: \"github.**\" } }", "{\"tool\":\"github.repo.push\"}", true},
    {"{ tool: { glob: \"github/*\" } }", "{\"tool\":\"github/a.b\"}", false},
    {"{ tool: { not: { glob: \"github.*\" } } }", "{\"tool\":\"github.repo.push\"}", true},
    {"{ tool: { any: [ { glob: \"github.?\" } ] } }", "{\"tool\":\"github.a.\"}", false},
    {"{ tool: { glob: { param: tpat } } }", "{\"tool\":\"github.issue\"}", true},
    {"{ tool: { glob: { param: tpat } } }", "{\"tool\":\"github.repo.push\"}", false},
    {"{ resource: { glob: \"github.*\" } }", "{\"tool\":\"x\",\"resource\":\"github.repo.push\"}",
     true},
    /* issue 9 item 4: domain on an e-mail address takes a plain mailbox only */
    {"{ args.to: { each: { any: [ { domain: { list: doms } }, { in: [ops@partner.example] } ] } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"<bob@evil.com>@corp.example\"]}}", false},
    {"{ args.to: { each: { any: [ { domain: { list: doms } }, { in: [ops@partner.example] } ] } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"bob@evil.com,alice@corp.example\"]}}", false},
    {"{ args.to: { each: { any: [ { domain: { list: doms } }, { in: [ops@partner.example] } ] } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"alice@corp.example\"]}}", true},
    {"{ args.to: { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"<bob@evil.com>@corp.example\"]}}", false},
    {"{ args.to: { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"bob@evil.com,c@corp.example\"]}}",
     false},
    {"{ args.to: { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"c@mail.corp-mail.example\"]}}",
     true},
    {"{ destination: { not: { domain: [corp.example] } } }",
     "{\"tool\":\"x\",\"destination\":\"<bob@evil.com>@corp.example\"}", true},
    {"{ destination: { not: { domain: [corp.example] } } }",
     "{\"tool\":\"x\",\"destination\":\"bob%evil.com@corp.example\"}", true},
    {"{ destination: { not: { domain: [corp.example] } } }",
     "{\"tool\":\"x\",\"destination\":\"bob.smith@corp.example\"}", false},
    /* issue 9 item 5: cidr reads the host of a URL, host:port or [IPv6]:port */
    {"{ destination: { not: { cidr: [169.254.0.0/16] } } }",
     "{\"tool\":\"x\",\"destination\":\"http://169.254.169.254/latest/meta-data/\"}", false},
    {"{ destination: { not: { cidr: [169.254.0.0/16] } } }",
     "{\"tool\":\"x\",\"destination\":\"169.254.169.254:80\"}", false},
    {"{ destination: { not: { cidr: [169.254.0.0/16] } } }",
     "{\"tool\":\"x\",\"destination\":\"[::ffff:169.254.169.254]:80\"}", false},
    {"{ destination: { not: { cidr: [169.254.0.0/16] } } }",
     "{\"tool\":\"x\",\"destination\":\"http://[::ffff:a9fe:a9fe]/x\"}", false},
    {"{ destination: { not: { cidr: [169.254.0.0/16] } } }",
     "{\"tool\":\"x\",\"destination\":\"https://user@169.254.169.254.:443/\"}", false},
    {"{ destination: { cidr: [169.254.0.0/16] } }",
     "{\"tool\":\"x\",\"destination\":\"http://169.254.169.254/latest/meta-data/\"}", true},
    {"{ destination: { cidr: [169.254.0.0/16] } }",
     "{\"tool\":\"x\",\"destination\":\"http://169.255.169.254/\"}", false},
    {"{ destination: { not: { cidr: [169.254.0.0/16] } } }",
     "{\"tool\":\"x\",\"destination\":\"http://metadata.example/\"}", true},
    /* arguments */
    {"{ args.ip: { cidr: [10.0.0.0/8, \"2001:db8::/32\"] } }",
     "{\"tool\":\"x\",\"args\":{\"ip\":\"10.1.2.3\"}}", true},
    {"{ args.ip: { cidr: [10.0.0.0/8, \"2001:db8::/32\"] } }",
     "{\"tool\":\"x\",\"args\":{\"ip\":\"2001:db8::1\"}}", true},
    {"{ args.ip: { cidr: 10.0.0.0/8 } }", "{\"tool\":\"x\",\"args\":{\"ip\":\"11.0.0.1\"}}",
     false},
    {"{ args.id: { regex: \"[a-z]{3}-[0-9]+\" } }", "{\"tool\":\"x\",\"args\":{\"id\":\"abc-12\"}}",
     true},
    {"{ args.id: { regex: \"[a-z]{3}-[0-9]+\" } }",
     "{\"tool\":\"x\",\"args\":{\"id\":\"xabc-12\"}}", false},
    {"{ args.amount: { gt: 1000 } }", "{\"tool\":\"x\",\"args\":{\"amount\":1000.5}}", true},
    {"{ args.amount: { gt: 1000 } }", "{\"tool\":\"x\",\"args\":{\"amount\":1000}}", false},
    {"{ args.amount: { gte: 1000 } }", "{\"tool\":\"x\",\"args\":{\"amount\":1000}}", true},
    {"{ args.amount: { lt: 10 } }", "{\"tool\":\"x\",\"args\":{\"amount\":9.99}}", true},
    {"{ args.amount: { lte: 10 } }", "{\"tool\":\"x\",\"args\":{\"amount\":10.01}}", false},
    {"{ args.amount: { gt: 1000 } }", "{\"tool\":\"x\",\"args\":{\"amount\":\"2000\"}}", false},
    {"{ args.n: { gt: 1, lt: 10 } }", "{\"tool\":\"x\",\"args\":{\"n\":5}}", true},
    {"{ args.n: { gt: 1, lt: 10 } }", "{\"tool\":\"x\",\"args\":{\"n\":10}}", false},
    {"{ args.n: 1 }", "{\"tool\":\"x\",\"args\":{\"n\":1.0}}", true},
    {"{ args.n: \"1\" }", "{\"tool\":\"x\",\"args\":{\"n\":1}}", false},
    {"{ args.b: true }", "{\"tool\":\"x\",\"args\":{\"b\":true}}", true},
    {"{ args.b: yes }", "{\"tool\":\"x\",\"args\":{\"b\":true}}", false},
    {"{ args.b: yes }", "{\"tool\":\"x\",\"args\":{\"b\":\"yes\"}}", true},
    {"{ args.n: { ne: 3 } }", "{\"tool\":\"x\",\"args\":{\"n\":4}}", true},
    {"{ args.n: { ne: 3 } }", "{\"tool\":\"x\",\"args\":{\"n\":3}}", false},
    {"{ args.n: { ne: 3 } }", "{\"tool\":\"x\"}", false},
    {"{ args.color: [red, green] }", "{\"tool\":\"x\",\"args\":{\"color\":\"green\"}}", true},
    {"{ args.color: [red, green] }", "{\"tool\":\"x\",\"args\":{\"color\":\"blue\"}}", false},
    {"{ args.color: { in: [RED], icase: true } }", "{\"tool\":\"x\",\"args\":{\"color\":\"red\"}}",
     true},
    {"{ args.color: { not_in: [red] } }", "{\"tool\":\"x\",\"args\":{\"color\":\"blue\"}}", true},
    {"{ args.color: { not_in: [red] } }", "{\"tool\":\"x\",\"args\":{\"color\":\"red\"}}", false},
    {"{ args.color: { not_in: [red] } }", "{\"tool\":\"x\"}", false},
    {"{ args.color: { eq: RED, icase: true } }", "{\"tool\":\"x\",\"args\":{\"color\":\"red\"}}",
     true},
    {"{ args.color: { ne: RED, icase: true } }", "{\"tool\":\"x\",\"args\":{\"color\":\"red\"}}",
     false},
    {"{ args.query.limit: { lte: 100 } }",
     "{\"tool\":\"x\",\"args\":{\"query\":{\"limit\":50}}}", true},
    {"{ args.query.limit: { lte: 100 } }", "{\"tool\":\"x\",\"args\":{\"query\":50}}", false},
    {"{ args.m: { prefix: a } }", "{\"tool\":\"x\",\"args\":{\"m\":{}}}", false},
    /* lists under string predicates: every element must pass */
    {"{ args.to: { suffix: \"@corp.example\" } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"b@corp.example\"]}}", true},
    {"{ args.to: { suffix: \"@corp.example\" } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"b@evil.example\"]}}", false},
    {"{ args.to: { suffix: \"@corp.example\" } }", "{\"tool\":\"x\",\"args\":{\"to\":[]}}",
     false},
    /* labels, has, each, some */
    {"{ labels: { has: pii } }", "{\"tool\":\"x\",\"labels\":[\"pii\",\"x\"]}", true},
    {"{ labels: { has: [pii, x] } }", "{\"tool\":\"x\",\"labels\":[\"pii\",\"x\"]}", true},
    {"{ labels: { has: [pii, y] } }", "{\"tool\":\"x\",\"labels\":[\"pii\",\"x\"]}", false},
    {"{ labels: { has: pii } }", "{\"tool\":\"x\"}", false},
    {"{ labels: { exists: true } }", "{\"tool\":\"x\"}", true},
    {"{ args.to: { each: { suffix: \"@corp.example\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"b@corp.example\"]}}", true},
    {"{ args.to: { each: { suffix: \"@corp.example\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"b@evil\"]}}", false},
    {"{ args.to: { each: { suffix: \"@corp.example\" } } }", "{\"tool\":\"x\",\"args\":{\"to\":[]}}",
     false},
    {"{ args.to: { some: { suffix: \"@evil\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"b@evil\"]}}", true},
    {"{ args.to: { some: { suffix: \"@evil\" } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\"]}}", false},
    {"{ args.to: { each: { any: [ { domain: { list: doms } }, { in: [ops@partner.example] } ] } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"ops@partner.example\"]}}", true},
    {"{ args.to: { each: { any: [ { domain: { list: doms } }, { in: [ops@partner.example] } ] } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a@corp.example\",\"eve@partner.example\"]}}", false},
    /* exists, type, len_lte */
    {"{ args.x: { exists: true } }", "{\"tool\":\"x\",\"args\":{\"x\":0}}", true},
    {"{ args.x: { type: [string, number] } }", "{\"tool\":\"x\",\"args\":{\"x\":5}}", true},
    {"{ args.x: { type: [string, number] } }", "{\"tool\":\"x\",\"args\":{\"x\":[1]}}", false},
    {"{ args.x: { type: map } }", "{\"tool\":\"x\",\"args\":{\"x\":{}}}", true},
    {"{ args.x: { type: bool } }", "{\"tool\":\"x\",\"args\":{\"x\":null}}", false},
    {"{ args.q: { len_lte: 3 } }", "{\"tool\":\"x\",\"args\":{\"q\":\"abc\"}}", true},
    {"{ args.q: { len_lte: 3 } }", "{\"tool\":\"x\",\"args\":{\"q\":\"abcd\"}}", false},
    {"{ args.q: { len_lte: 3 } }", "{\"tool\":\"x\",\"args\":{\"q\":[1,2,3]}}", true},
    {"{ args.q: { len_lte: 3 } }", "{\"tool\":\"x\",\"args\":{\"q\":7}}", false},
    /* any, all, not (predicates and condition groups) */
    {"{ args.x: { any: [ { eq: 1 }, { eq: 2 } ] } }", "{\"tool\":\"x\",\"args\":{\"x\":2}}",
     true},
    {"{ args.x: { all: [ { gt: 1 }, { lt: 3 } ] } }", "{\"tool\":\"x\",\"args\":{\"x\":2}}",
     true},
    {"{ args.x: { all: [ { gt: 1 }, { lt: 3 } ] } }", "{\"tool\":\"x\",\"args\":{\"x\":3}}",
     false},
    {"{ args.x: { not: { eq: 1 } } }", "{\"tool\":\"x\",\"args\":{\"x\":2}}", true},
    {"{ any: [ { args.a: 1 }, { args.b: 1 } ] }", "{\"tool\":\"x\",\"args\":{\"b\":1}}", true},
    {"{ any: [ { args.a: 1 }, { args.b: 1 } ] }", "{\"tool\":\"x\",\"args\":{\"c\":1}}", false},
    {"{ not: { args.a: 1 } }", "{\"tool\":\"x\",\"args\":{\"a\":2}}", true},
    {"{ not: { args.a: 1 } }", "{\"tool\":\"x\",\"args\":{\"a\":1}}", false},
    {"{ args.a: 1, not: { args.b: 1 }, any: [ { args.c: 1 } ] }",
     "{\"tool\":\"x\",\"args\":{\"a\":1,\"b\":2,\"c\":1}}", true},
    /* task parameters */
    {"{ args.email: { eq: { param: who }, icase: true } }",
     "{\"tool\":\"x\",\"args\":{\"email\":\"bob@x.example\"}}", true},
    {"{ args.email: { eq: { param: who } } }",
     "{\"tool\":\"x\",\"args\":{\"email\":\"bob@x.example\"}}", false},
    {"{ args.email: { param: who } }", "{\"tool\":\"x\",\"args\":{\"email\":\"Bob@X.example\"}}",
     true},
    {"{ args.amount: { lte: { param: max } } }", "{\"tool\":\"x\",\"args\":{\"amount\":100}}",
     true},
    {"{ args.amount: { lte: { param: max } } }", "{\"tool\":\"x\",\"args\":{\"amount\":101}}",
     false},
    {"{ args.d: { in: { param: okdoms } } }", "{\"tool\":\"x\",\"args\":{\"d\":\"corp.example\"}}",
     true},
    {"{ args.d: { param: okdoms } }", "{\"tool\":\"x\",\"args\":{\"d\":\"evil.example\"}}", false},
    {"{ args.d: { in: [ { param: okdoms }, other.example ] } }",
     "{\"tool\":\"x\",\"args\":{\"d\":\"other.example\"}}", true},
    {"{ destination: { domain: { param: okdoms } } }",
     "{\"tool\":\"x\",\"destination\":\"x.corp.example\"}", true},
    {"{ resource: { glob: { param: pat } } }", "{\"tool\":\"x\",\"resource\":\"/home/a\"}", true},
    {"{ resource: { glob: { param: pat } } }", "{\"tool\":\"x\",\"resource\":\"/home/a/b\"}",
     false},
    /* issue 9, item 18: len_lte takes a {param: NAME}, type a {list: NAME} */
    {"{ args.x: { len_lte: { param: few } } }", "{\"tool\":\"x\",\"args\":{\"x\":\"ab\"}}", true},
    {"{ args.x: { len_lte: { param: few } } }", "{\"tool\":\"x\",\"args\":{\"x\":\"abc\"}}",
     false},
    {"{ args.x: { len_lte: { param: few } } }", "{\"tool\":\"x\",\"args\":{\"x\":[1,2]}}", true},
    {"{ args.x: { len_lte: { param: few } } }", "{\"tool\":\"x\",\"args\":{\"x\":[1,2,3]}}",
     false},
    {"{ args.x: { len_lte: { param: few } } }", "{\"tool\":\"x\"}", false},
    {"{ args.x: { type: { list: scalars } } }", "{\"tool\":\"x\",\"args\":{\"x\":1}}", true},
    {"{ args.x: { type: { list: scalars } } }", "{\"tool\":\"x\",\"args\":{\"x\":\"a\"}}", true},
    {"{ args.x: { type: { list: scalars } } }", "{\"tool\":\"x\",\"args\":{\"x\":true}}",
     false},
    {"{ args.x: { type: { list: scalars } } }", "{\"tool\":\"x\",\"args\":{\"x\":[\"a\"]}}",
     false},
    {"{ args.x: { type: [map, { list: scalars }] } }", "{\"tool\":\"x\",\"args\":{\"x\":{}}}",
     true},
    {"{ args.x: { type: [map, { list: scalars }] } }", "{\"tool\":\"x\",\"args\":{\"x\":[]}}",
     false},
    /* issue 16, item 3: a scalar parameter as an item of in's list */
    {"{ args.x: { in: [zz, { param: who }] } }",
     "{\"tool\":\"x\",\"args\":{\"x\":\"Bob@X.example\"}}", true},
    {"{ args.x: { in: [zz, { param: who }] } }",
     "{\"tool\":\"x\",\"args\":{\"x\":\"Bob@X.exampl\"}}", false},
    {"{ session.params.flag: true }", "{\"tool\":\"x\"}", true},
    {"{ session.params.who: { suffix: X.example } }", "{\"tool\":\"x\"}", true},
    {"{ session.params.max: { gt: 100 } }", "{\"tool\":\"x\"}", false},
    /* the catalogue and the session */
    {"{ tool.sink: true }", "{\"tool\":\"http.post\"}", true},
    {"{ tool.sink: true }", "{\"tool\":\"read_file\"}", false},
    {"{ tool.sink: false }", "{\"tool\":\"read_file\"}", true},
    {"{ tool.sink: true }", "{\"tool\":\"unknown\"}", false},
    {"{ tool.sink: { exists: false } }", "{\"tool\":\"unknown\"}", true},
    {"{ tool.produces: { has: internal } }", "{\"tool\":\"read_file\"}", true},
    {"{ session.calls: 1 }", "{\"tool\":\"x\"}", true},
    {"{ session.calls: { gt: 1 } }", "{\"tool\":\"x\"}", false},
    {"{ session.age: { lt: 1 } }", "{\"tool\":\"x\"}", true},
    {"{ session.labels: { has: internal } }", "{\"tool\":\"x\"}", false},
    {"{ session.labels: { len_lte: 0 } }", "{\"tool\":\"x\"}", true},
    /* a JSON null is an absent argument, for every predicate (issue 9, item 6) */
    {"{ args.b: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"b\":null}}", false},
    {"{ args.b: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"b\":\"dev\"}}", true},
    {"{ args.b: { not_in: [main, master] } }", "{\"tool\":\"x\",\"args\":{\"b\":null}}",
     false},
    {"{ args.b: { ne: { param: who } } }", "{\"tool\":\"x\",\"args\":{\"b\":null}}", false},
    {"{ args.x: { exists: true } }", "{\"tool\":\"x\",\"args\":{\"x\":null}}", false},
    {"{ args.x: { exists: false } }", "{\"tool\":\"x\",\"args\":{\"x\":null}}", true},
    {"{ args.x: { exists: false } }", "{\"tool\":\"x\",\"args\":{\"x\":false}}", false},
    {"{ args.x: { not: { eq: main } } }", "{\"tool\":\"x\",\"args\":{\"x\":null}}", true},
    {"{ args.x: { not: { exists: true } } }", "{\"tool\":\"x\",\"args\":{\"x\":null}}",
     true},
    {"{ args.x: { any: [ { ne: a }, { exists: true } ] } }",
     "{\"tool\":\"x\",\"args\":{\"x\":null}}", false},
    {"{ args.x: { len_lte: 8 } }", "{\"tool\":\"x\",\"args\":{\"x\":null}}", false},
    {"{ args.x: { type: [string, number, bool, list, map] } }",
     "{\"tool\":\"x\",\"args\":{\"x\":null}}", false},
    {"{ args.a.b: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"a\":{\"b\":null}}}", false},
    {"{ args.a.b: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"a\":null}}", false},
    {"{ args.a.b: { exists: false } }", "{\"tool\":\"x\",\"args\":{\"a\":{\"b\":null}}}",
     true},
    {"{ args.a.b: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"a\":{\"b\":\"x\"}}}", true},
    /* ... and a null element of a list is an absent element */
    {"{ args.to: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"to\":[\"dev\",null]}}", false},
    {"{ args.to: { ne: main } }", "{\"tool\":\"x\",\"args\":{\"to\":[\"dev\",\"x\"]}}", true},
    {"{ args.to: { each: { ne: main } } }", "{\"tool\":\"x\",\"args\":{\"to\":[\"dev\",null]}}",
     false},
    {"{ args.to: { some: { not_in: [main] } } }", "{\"tool\":\"x\",\"args\":{\"to\":[null]}}",
     false},
    {"{ args.to: { some: { exists: false } } }", "{\"tool\":\"x\",\"args\":{\"to\":[\"a\",null]}}",
     true},
    {"{ args.to: { each: { exists: true } } }", "{\"tool\":\"x\",\"args\":{\"to\":[\"a\",null]}}",
     false},
    {"{ args.to: { each: { not: { eq: main } } } }",
     "{\"tool\":\"x\",\"args\":{\"to\":[\"a\",null]}}", true},
    /* links in text (issue 11, item 3): every host trusted; near misses one character, one encoding, one segment away */
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"see [x](https://api.corp.example/a) and https://corp-mail.example.\"}}", true},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"![x](https://evil.example/?q=secret)\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[x](https://api.corp.example/a) ![y](https://evil.example/p.png)\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://corp.example.evil.example/\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://corp.example@evil.example/\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://evil.example\\\\@corp.example/\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"<a href=\\\"//evil.example/x\\\">x</a> https://corp.example\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"<img src=\\\"&#104;ttps://evil.example\\\"> https://corp.example\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"HTTPS://API.CORP.EXAMPLE./x\"}}", true},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"www.corp.example/a www.evil.example\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"write to bob@corp.example or https://corp.example\"}}", true},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"write to bob@evil.example or https://corp.example\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"no links here\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\"}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":[\"https://corp.example\",\"https://evil.example\"]}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":[\"https://corp.example\",{\"k\":[\"https://corp-mail.example\"]}]}}", true},
    {"{ \"hosts(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":{\"a\":\"https://corp.example\",\"https://evil.example\":1}}}", false},
    {"{ \"hosts(args.body)\": { any: [ { len_lte: 0 }, { each: { domain: { list: doms } } } ] } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"no links here\"}}", true},
    {"{ \"hosts(args.body)\": { any: [ { len_lte: 0 }, { each: { domain: { list: doms } } } ] } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://evil.example\"}}", false},
    {"{ \"hosts(args.body)\": { not: { some: { not: { domain: { list: doms } } } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"plain\"}}", true},
    {"{ \"hosts(args.body)\": { not: { some: { not: { domain: { list: doms } } } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"x https://evil.example\"}}", false},
    {"{ \"hosts(args.body)\": { len_lte: 0 } }",
     "{\"tool\":\"x\",\"args\":{\"body\":42}}", true},
    {"{ \"hosts(args.body)\": { has: api.corp.example } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[x](https://API.Corp.Example./)\"}}", true},
    {"{ \"hosts(args.body)\": { has: api.corp.example } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[x](https://api.corp.example.x/)\"}}", false},
    {"{ \"hosts(args.body)\": { exists: false } }",
     "{\"tool\":\"x\"}", true},
    {"{ \"hosts(args.body)\": { exists: false } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"\"}}", false},
    {"{ \"hosts(args.body)\": { each: { domain: { param: okdoms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://a.corp.example\"}}", true},
    {"{ \"hosts(args.body)\": { each: { domain: { param: okdoms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://a.corp-mail.example\"}}", false},
    /* links: schemes and shapes */
    {"{ \"links(args.body)\": { each: { glob: \"https://corp.example/**\" } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[a](https://corp.example/x/y)\"}}", true},
    {"{ \"links(args.body)\": { each: { glob: \"https://corp.example/**\" } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[a](javascript:alert(1))\"}}", false},
    {"{ \"links(args.body)\": { each: { glob: \"https://corp.example/**\" } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[a](//evil.example/)\"}}", false},
    {"{ \"links(args.body)\": { each: { glob: \"https://corp.example/**\" } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"[a](https://corp.example/x) [b](https://corp.example.evil.example/x)\"}}", false},
    {"{ \"links(args.body)\": { len_lte: 1 } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://a.example https://b.example\"}}", false},
    {"{ \"links(args.body)\": { len_lte: 2 } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"https://a.example https://b.example\"}}", true},
    {"{ \"links(args.body)\": { some: { prefix: \"data:\" } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"![x](data:image/png;base64,AAAA)\"}}", true},
    /* emails */
    {"{ \"emails(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"write to bob@corp.example.\"}}", true},
    {"{ \"emails(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"write to bob@corp.example.evil.example\"}}", false},
    {"{ \"emails(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"mailto:x@corp.example?cc=eve@evil.example\"}}", false},
    {"{ \"emails(args.body)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"bob@corp.example@evil.example\"}}", false},
    {"{ \"emails(args.body)\": { has: bob@corp.example } }",
     "{\"tool\":\"x\",\"args\":{\"body\":\"cc bob@corp.example, ann@corp.example\"}}", true},
    /* payload, destination, resource */
    {"{ \"hosts(payload)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"payload\":\"<p>https://corp.example</p>\"}", true},
    {"{ \"hosts(payload)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"payload\":\"<p>https://corp.example</p><img src=https://evil.example>\"}", false},
    {"{ \"hosts(payload)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\"}", false},
    {"{ \"hosts(destination)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"destination\":\"https://api.corp.example/x\"}", true},
    {"{ \"hosts(destination)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"destination\":[\"https://corp.example\",\"https://evil.example\"]}", false},
    {"{ \"hosts(resource)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"resource\":\"https://api.corp.example/a/../b\"}", true},
    {"{ \"hosts(resource)\": { each: { domain: { list: doms } } } }",
     "{\"tool\":\"x\",\"resource\":\"https://evil.example/a\"}", false},
};

START_TEST(test_where_case)
{
    const where_case *c = &cases[_i];
    char policy[4096];
    agentauthz_error err;
    agentauthz_engine *e;
    agentauthz_session *s;
    snprintf(policy, sizeof policy, policy_template, c->where);
    e = engine_with(NULL, policy, &err);
    ck_assert_msg(e != NULL, "where %s: %s:%lu:%lu: %s", c->where, err.path, err.line,
                  err.column, err.message);
    s = open_session(e, "agent/7", "t", params);
    expect_decision(s, c->action, c->match ? AGENTAUTHZ_ALLOW : AGENTAUTHZ_DENY,
                    c->match ? "r" : "default");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* ---- the decision rules ---- */

static const char *const effects_policy =
    "agentauthz: 1\n"
    "tasks:\n"
    "  t: {}\n"
    "  asking: { otherwise: ask }\n"
    "rules:\n"
    "  - { id: allow-a, effect: allow, tools: [a, b, c] }\n"
    "  - { id: allow-a2, effect: allow, tools: [a] }\n"
    "  - { id: ask-b, effect: ask, tools: [b, c], reason: needs a human }\n"
    "  - { id: ask-b2, effect: ask, tools: [b] }\n"
    "  - { id: deny-c, effect: deny, tools: [c], reason: never c }\n"
    "  - { id: deny-c2, effect: deny, tools: [\"*\"], where: { tool: c } }\n"
    "  - { id: glob, effect: allow, tools: [\"gh.*\"] }\n"
    "  - { id: deep, effect: ask, tools: [\"gh.**\"], where: { args.big: true } }\n";

START_TEST(test_deny_over_ask_over_allow)
{
    agentauthz_engine *e = engine_with(NULL, effects_policy, NULL);
    agentauthz_session *s;
    agentauthz_action *a;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "anyone", "t", NULL);
    expect_decision(s, "{\"tool\":\"a\"}", AGENTAUTHZ_ALLOW, "allow-a");
    expect_decision(s, "{\"tool\":\"b\"}", AGENTAUTHZ_ASK, "ask-b");
    expect_decision(s, "{\"tool\":\"c\"}", AGENTAUTHZ_DENY, "deny-c");
    expect_decision(s, "{\"tool\":\"d\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"gh.issue\"}", AGENTAUTHZ_ALLOW, "glob");
    expect_decision(s, "{\"tool\":\"gh.issue\",\"args\":{\"big\":true}}", AGENTAUTHZ_ASK, "deep");
    expect_decision(s, "{\"tool\":\"gh.repo.push\"}", AGENTAUTHZ_DENY, "default");
    a = action_from_json("{\"tool\":\"c\"}");
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.reason, "never c");
    ck_assert_uint_eq(d.seq, 8);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    s = open_session(e, "anyone", "asking", NULL);
    expect_decision(s, "{\"tool\":\"d\"}", AGENTAUTHZ_ASK, "default");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_approvals)
{
    agentauthz_engine *e = engine_with(NULL, effects_policy, NULL);
    agentauthz_session *s = open_session(e, "anyone", "t", NULL);
    agentauthz_action *b = action_from_json("{\"tool\":\"b\",\"args\":{\"x\":1,\"y\":[1,2]}}");
    agentauthz_action *same = action_from_json("{\"tool\":\"b\",\"args\":{\"y\":[1.0,2],\"x\":1}}");
    agentauthz_action *other = action_from_json("{\"tool\":\"b\",\"args\":{\"x\":2}}");
    agentauthz_action *c = action_from_json("{\"tool\":\"c\"}");
    agentauthz_decision d;
    ck_assert_int_eq(agentauthz_check(s, b, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK);
    ck_assert_int_eq(agentauthz_approve(s, b, AGENTAUTHZ_APPROVE_ONCE), 0);
    ck_assert_int_eq(agentauthz_check(s, other, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK); /* another action is not approved */
    ck_assert_int_eq(agentauthz_check(s, same, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW); /* key order and 1 == 1.0 ignored */
    ck_assert_str_eq(d.rule, "ask-b");
    ck_assert_int_eq(agentauthz_check(s, b, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK); /* once means once */
    ck_assert_int_eq(agentauthz_approve(s, b, AGENTAUTHZ_APPROVE_SESSION), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(agentauthz_check(s, b, &d), 0);
        ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    }
    ck_assert_int_eq(agentauthz_approve(s, c, AGENTAUTHZ_APPROVE_SESSION), 0);
    ck_assert_int_eq(agentauthz_check(s, c, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY); /* an approval never lifts a deny */
    ck_assert_int_eq(agentauthz_approve(s, c, (agentauthz_approval)7), AGENTAUTHZ_EINVAL);
    agentauthz_action_free(b);
    agentauthz_action_free(same);
    agentauthz_action_free(other);
    agentauthz_action_free(c);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

static const char *const limits_policy =
    "agentauthz: 1\n"
    "tools:\n"
    "  get_secret: { produces: [secret] }\n"
    "  http.post: { sink: true }\n"
    "tasks:\n"
    "  limited:\n"
    "    limits: { calls: 4, per_tool: { send: 2 } }\n"
    "  strict: { on_deny: revoke }\n"
    "rules:\n"
    "  - { id: ok, effect: allow, tools: [\"*\"], where: { tool: { not_in: [forbidden] } } }\n"
    "  - id: no-exfil\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where:\n"
    "      session.labels: { has: secret }\n"
    "      tool.sink: true\n"
    "      destination: { not: { domain: [corp.example] } }\n";

START_TEST(test_limits)
{
    agentauthz_engine *e = engine_with(NULL, limits_policy, NULL);
    agentauthz_session *s = open_session(e, "x", "limited", NULL);
    expect_decision(s, "{\"tool\":\"send\"}", AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"send\"}", AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"send\"}", AGENTAUTHZ_DENY, "limit");
    expect_decision(s, "{\"tool\":\"forbidden\"}", AGENTAUTHZ_DENY, "default");
    /* the fifth check: denied ones count too */
    expect_decision(s, "{\"tool\":\"other\"}", AGENTAUTHZ_DENY, "limit");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_taint_and_revoke)
{
    agentauthz_engine *e = engine_with(NULL, limits_policy, NULL);
    agentauthz_session *s = open_session(e, "x", "limited", NULL);
    expect_decision(s, "{\"tool\":\"http.post\",\"destination\":\"evil.example\"}",
                    AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"get_secret\"}", AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"http.post\",\"destination\":\"api.corp.example\"}",
                    AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"http.post\",\"destination\":\"evil.example\"}",
                    AGENTAUTHZ_DENY, "no-exfil");
    agentauthz_session_close(s);
    /* labels the host attaches taint the session only when the action is allowed */
    s = open_session(e, "x", "strict", NULL);
    expect_decision(s, "{\"tool\":\"forbidden\",\"labels\":[\"secret\"]}", AGENTAUTHZ_DENY,
                    "default");
    expect_decision(s, "{\"tool\":\"read\"}", AGENTAUTHZ_DENY, "session");
    agentauthz_session_close(s);
    s = open_session(e, "x", "limited", NULL);
    expect_decision(s, "{\"tool\":\"read\",\"labels\":[\"secret\"]}", AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"http.post\",\"destination\":\"evil.example\"}",
                    AGENTAUTHZ_DENY, "no-exfil");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/*
 * Over 64 tasks and 64 roles the candidates carry no bit masks and scope is
 * decided from the rule's own lists: the same decisions either way.
 */
static char *wide_policy(void)
{
    size_t cap = 16384, len = 0;
    char *p = malloc(cap);
    ck_assert_ptr_nonnull(p);
    len += (size_t)snprintf(p + len, cap - len, "agentauthz: 1\nidentities:\n");
    for (int i = 0; i < 70; i++)
        len += (size_t)snprintf(p + len, cap - len, "  - { match: \"agent/%d\", roles: [r%d] }\n",
                                i, i);
    len += (size_t)snprintf(p + len, cap - len, "tasks:\n");
    for (int i = 0; i < 70; i++)
        len += (size_t)snprintf(p + len, cap - len, "  t%d: {}\n", i);
    len += (size_t)snprintf(p + len, cap - len,
                            "rules:\n"
                            "  - { id: late-task, effect: allow, tasks: [t68, t69], tools: [x] }\n"
                            "  - { id: late-role, effect: ask, roles: [r3, r69], tools: [y] }\n"
                            "  - { id: both, effect: allow, tasks: [t1], roles: [r66], tools: [\"z*\"] }\n");
    ck_assert_uint_lt(len, cap);
    return p;
}

/*
 * Issue 9 item 1: a deny on any recipient outside corp.example holds for one
 * outside recipient however the host passes it: a scalar destination, a list
 * of one made with agentauthz_action_set_destinations, or an empty list that
 * add_destination then extends.
 */
static const char *const outside_policy = "agentauthz: 1\n"
                                          "tasks: { t: {} }\n"
                                          "rules:\n"
                                          "  - { id: all, effect: allow, tools: [\"*\"] }\n"
                                          "  - id: out\n"
                                          "    effect: deny\n"
                                          "    tools: [\"*\"]\n"
                                          "    where:\n"
                                          "      destination: { some: { not: { domain: [corp.example] } } }\n"
                                          "  - id: is-list\n"
                                          "    effect: ask\n"
                                          "    tools: [list]\n"
                                          "    where: { destination: { type: list } }\n";

static agentauthz_effect dest_check(agentauthz_session *s, agentauthz_action *a, const char *rule)
{
    agentauthz_decision d;
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.rule, rule);
    return d.effect;
}

START_TEST(test_destination_list_of_one)
{
    agentauthz_engine *e = engine_with(NULL, outside_policy, NULL);
    agentauthz_session *s = open_session(e, "agent/1", "t", NULL);
    const char *evil[] = {"bob@evil.com"}, *inside[] = {"a@corp.example", "b@x.corp.example"};
    const char *with_null[] = {"a@corp.example", NULL};
    agentauthz_action *a = NULL;
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(agentauthz_action_set_tool(a, "send"), 0);
    ck_assert_int_eq(agentauthz_action_add_destination(a, "bob@evil.com"), 0);
    ck_assert_int_eq(dest_check(s, a, "out"), AGENTAUTHZ_DENY);
    agentauthz_action_reset(a);
    ck_assert_int_eq(agentauthz_action_set_tool(a, "send"), 0);
    ck_assert_int_eq(agentauthz_action_set_destinations(a, evil, 1), 0);
    ck_assert_int_eq(dest_check(s, a, "out"), AGENTAUTHZ_DENY);
    ck_assert_int_eq(agentauthz_action_set_destinations(a, inside, 2), 0);
    ck_assert_int_eq(dest_check(s, a, "all"), AGENTAUTHZ_ALLOW);
    ck_assert_int_eq(agentauthz_action_set_destinations(a, inside, 1), 0);
    ck_assert_int_eq(dest_check(s, a, "all"), AGENTAUTHZ_ALLOW);
    /* An empty list is a list, and add_destination appends to it. */
    ck_assert_int_eq(agentauthz_action_set_tool(a, "list"), 0);
    ck_assert_int_eq(agentauthz_action_set_destinations(a, NULL, 0), 0);
    ck_assert_int_eq(dest_check(s, a, "is-list"), AGENTAUTHZ_ASK);
    ck_assert_int_eq(agentauthz_action_add_destination(a, "a@corp.example"), 0);
    ck_assert_int_eq(dest_check(s, a, "is-list"), AGENTAUTHZ_ASK);
    ck_assert_int_eq(agentauthz_action_add_destination(a, "bob@evil.com"), 0);
    ck_assert_int_eq(dest_check(s, a, "out"), AGENTAUTHZ_DENY);
    /* A bad call leaves the destination as it was. */
    ck_assert_int_eq(agentauthz_action_set_destinations(a, with_null, 2), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_set_destinations(a, NULL, 1), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(dest_check(s, a, "out"), AGENTAUTHZ_DENY);
    /* A scalar destination is not a list, but each/some see it as one. */
    agentauthz_action_reset(a);
    ck_assert_int_eq(agentauthz_action_set_tool(a, "list"), 0);
    ck_assert_int_eq(agentauthz_action_add_destination(a, "a@corp.example"), 0);
    ck_assert_int_eq(dest_check(s, a, "all"), AGENTAUTHZ_ALLOW);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_scope_beyond_64)
{
    char *text = wide_policy();
    agentauthz_engine *e = engine_with(NULL, text, NULL);
    agentauthz_session *s;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "agent/69", "t69", NULL);
    expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_ALLOW, "late-task");
    expect_decision(s, "{\"tool\":\"y\"}", AGENTAUTHZ_ASK, "late-role");
    expect_decision(s, "{\"tool\":\"zed\"}", AGENTAUTHZ_DENY, "default");
    agentauthz_session_close(s);
    s = open_session(e, "agent/66", "t1", NULL);
    expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"y\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"zed\"}", AGENTAUTHZ_ALLOW, "both");
    agentauthz_session_close(s);
    s = open_session(e, "agent/3", "t67", NULL);
    expect_decision(s, "{\"tool\":\"y\"}", AGENTAUTHZ_ASK, "late-role");
    expect_decision(s, "{\"tool\":\"zed\"}", AGENTAUTHZ_DENY, "default");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
    free(text);
}
END_TEST

/* {"tool":"T","labels":["bFROM",...,"bTO-1"]}, in a buffer the caller frees. */
static char *labels_action(const char *tool, int from, int to)
{
    size_t cap = 64 + (size_t)(to - from) * 10, len = 0;
    char *p = malloc(cap);
    ck_assert_ptr_nonnull(p);
    len += (size_t)snprintf(p, cap, "{\"tool\":\"%s\",\"labels\":[", tool);
    for (int i = from; i < to; i++)
        len += (size_t)snprintf(p + len, cap - len, "%s\"b%04d\"", i > from ? "," : "", i);
    len += (size_t)snprintf(p + len, cap - len, "]}");
    ck_assert_uint_lt(len, cap);
    return p;
}

/*
 * Issue 16, item 1: an allow whose labels would take the session past its
 * 1024 labels is denied, names the bound, and adds none of them; before,
 * it added labels until the session was full (so a rule on a label of the
 * denied action fired) and left the session stuck.
 */
START_TEST(test_label_bound_denies_and_adds_nothing)
{
    static const char *const text =
        "agentauthz: 1\n"
        "tools: { tagp: { produces: [b1000] } }\n"
        "tasks: { t: {} }\n"
        "rules:\n"
        "  - { id: tag, effect: allow, tools: [tag, tagp] }\n"
        "  - { id: saw-b1000, effect: allow, tools: [probe],"
        " where: { session.labels: { has: b1000 } } }\n";
    agentauthz_engine *e = engine_with(NULL, text, NULL);
    agentauthz_session *s = open_session(e, "x", "t", NULL);
    agentauthz_action *a;
    agentauthz_decision d;
    char *first = labels_action("tag", 0, 1000), *over = labels_action("tag", 1000, 1030);
    char *full = labels_action("tag", 1001, 1024), *one_more = labels_action("tagp", 0, 0);
    expect_decision(s, first, AGENTAUTHZ_ALLOW, "tag");
    a = action_from_json(over);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.rule, "session");
    ck_assert_ptr_nonnull(strstr(d.reason, "1024 labels"));
    agentauthz_action_free(a);
    expect_decision(s, "{\"tool\":\"probe\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"tag\",\"labels\":[\"new\"]}", AGENTAUTHZ_ALLOW, "tag");
    /* exactly at the bound is allowed; one more, from the catalogue, is not */
    expect_decision(s, "{\"tool\":\"tag\",\"labels\":[\"b0000\",\"new\"]}", AGENTAUTHZ_ALLOW,
                    "tag");
    expect_decision(s, full, AGENTAUTHZ_ALLOW, "tag"); /* 1001 + 23 = 1024 */
    expect_decision(s, one_more, AGENTAUTHZ_DENY, "session");
    expect_decision(s, "{\"tool\":\"probe\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"tag\",\"labels\":[\"b0005\"]}", AGENTAUTHZ_ALLOW, "tag");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
    free(first);
    free(over);
    free(full);
    free(one_more);
}
END_TEST

/* ---- paths (issue 9, item 3) ---- */

static const char *const paths_policy =
    "agentauthz: 1\n"
    "tools:\n"
    "  fs.read: { paths: [path, opts.dest, files] }\n"
    "tasks:\n"
    "  t: {}\n"
    "rules:\n"
    "  - id: never-dotenv\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where: { resource: { glob: \"**/.env*\", icase: true } }\n"
    "  - id: kb\n"
    "    effect: allow\n"
    "    tools: [read_file]\n"
    "    where: { resource: { glob: [\"/kb/**\", \"rel/**\", \"file:///kb/**\", "
    "\"https://api.corp.example/v1/**\"] } }\n"
    "  - id: kb-prefix\n"
    "    effect: allow\n"
    "    tools: [read_prefix]\n"
    "    where: { resource: { prefix: \"vault:support/\" } }\n"
    "  - id: fs-kb\n"
    "    effect: allow\n"
    "    tools: [fs.read]\n"
    "    where:\n"
    "      args.path: { glob: \"/kb/**\" }\n"
    "      args.files: { each: { glob: \"/kb/**\" } }\n"
    "  - id: fs-dest\n"
    "    effect: allow\n"
    "    tools: [fs.read]\n"
    "    where: { args.opts.dest: { prefix: /tmp/out/ } }\n"
    "  - id: fs-has\n"
    "    effect: ask\n"
    "    tools: [fs.read]\n"
    "    where: { args.files: { has: /kb/secret, len_lte: 2 } }\n"
    "  - id: fs-short\n"
    "    effect: allow\n"
    "    tools: [fs.read]\n"
    "    where: { args.path: { len_lte: 4 } }\n";

typedef struct path_case {
    const char *action;
    agentauthz_effect effect;
    const char *rule;
    const char *reason; /* a part of the reason, or NULL */
} path_case;

#define RES(r) "{\"tool\":\"read_file\",\"resource\":\"" r "\"}"
#define FS(args) "{\"tool\":\"fs.read\",\"args\":" args "}"

static const path_case path_cases[] = {
    /* the README's escape, and what normalisation leaves to the rules */
    {RES("/kb/../etc/passwd"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("/kb/a/../b.md"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("/kb/./a//b.md/"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("/x/../kb/a"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("/kb/a/../../etc"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("/kb/../../kb/a"), AGENTAUTHZ_DENY, "input", "resource: path climbs above its root"},
    {RES("/.."), AGENTAUTHZ_DENY, "input", "climbs above its root"},
    {RES("/kb/a\\\\..\\\\b"), AGENTAUTHZ_DENY, "input", "resource: path contains a backslash"},
    {RES("/kb/.ENV"), AGENTAUTHZ_DENY, "never-dotenv", NULL},
    {RES("/kb/x/..//.env.local"), AGENTAUTHZ_DENY, "never-dotenv", NULL},
    /* relative paths: their start is their root */
    {RES("rel/a/./b"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("./rel/a"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("rel/../etc/passwd"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("rel/../../x"), AGENTAUTHZ_DENY, "input", "climbs above its root"},
    {RES("vault:support/../admin/key"), AGENTAUTHZ_DENY, "default", NULL},
    {"{\"tool\":\"read_prefix\",\"resource\":\"vault:support/../admin/key\"}",
     AGENTAUTHZ_DENY, "default", NULL},
    {"{\"tool\":\"read_prefix\",\"resource\":\"vault:support/db\"}", AGENTAUTHZ_ALLOW,
     "kb-prefix", NULL},
    /* a value without a slash is no path: matched as written */
    {"{\"tool\":\"read_file\",\"resource\":\"..\"}", AGENTAUTHZ_DENY, "default", NULL},
    /* URLs: the path up to the query; "%2e" is a dot there */
    {RES("https://api.corp.example/v1/items/1"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("https://api.corp.example/v1/../admin"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("https://api.corp.example/v1/%2E%2e/admin"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("https://api.corp.example/v1/.%2e/.%2E/x"), AGENTAUTHZ_DENY, "input",
     "climbs above its root"},
    {RES("https://api.corp.example/v1/..%2Fadmin"), AGENTAUTHZ_DENY, "input", "(%2F)"},
    {RES("https://api.corp.example/v1/a%2f.."), AGENTAUTHZ_DENY, "input", "(%2F)"},
    {RES("https://api.corp.example/v1/group%2Fproject"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("https://api.corp.example/v1/%5c..%5cadmin"), AGENTAUTHZ_DENY, "input", "%5C"},
    {RES("https://api.corp.example/v1/x?next=/../../admin"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("https://api.corp.example/v1//x#/../.."), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("https://api.corp.example/v2/../v1/x"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("file:///kb/a/../b"), AGENTAUTHZ_ALLOW, "kb", NULL},
    {RES("file:///kb/../etc/passwd"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("file:///kb/x?/../../etc"), AGENTAUTHZ_DENY, "default", NULL},
    {RES("FILE:///kb/../../etc"), AGENTAUTHZ_DENY, "input", "climbs above its root"},
    /* arguments the catalogue marks as paths */
    {FS("{\"path\":\"/kb/a\",\"files\":[\"/kb/b\"]}"), AGENTAUTHZ_ALLOW, "fs-kb", NULL},
    {FS("{\"path\":\"/kb/../etc/passwd\",\"files\":[\"/kb/b\"]}"), AGENTAUTHZ_DENY,
     "default", NULL},
    {FS("{\"path\":\"/kb/x/../a\",\"files\":[\"/kb/b\",\"/kb/./c\"]}"), AGENTAUTHZ_ALLOW,
     "fs-kb", NULL},
    {FS("{\"path\":\"/kb/a\",\"files\":[\"/kb/b\",\"/kb/../etc\"]}"), AGENTAUTHZ_DENY,
     "default", NULL},
    {FS("{\"path\":\"../x\"}"), AGENTAUTHZ_DENY, "input",
     "argument \"path\": path climbs above its root"},
    {FS("{\"path\":\"..\"}"), AGENTAUTHZ_DENY, "input", "argument \"path\""},
    {FS("{\"path\":\"/kb/a\\u0000/../../../etc\"}"), AGENTAUTHZ_DENY, "input",
     "argument \"path\": path contains a NUL byte"},
    {FS("{\"files\":[\"/kb/a\",\"a\\\\b\"]}"), AGENTAUTHZ_DENY, "input",
     "argument \"files\": path contains a backslash"},
    {FS("{\"opts\":{\"dest\":\"/tmp/out/../../etc/cron.d/x\"}}"), AGENTAUTHZ_DENY, "default",
     NULL},
    {FS("{\"opts\":{\"dest\":\"/tmp/out/./x\"}}"), AGENTAUTHZ_ALLOW, "fs-dest", NULL},
    {FS("{\"opts\":{\"dest\":\"/../x\"}}"), AGENTAUTHZ_DENY, "input",
     "argument \"opts.dest\""},
    {FS("{\"opts\":{\"dest\":null},\"path\":null}"), AGENTAUTHZ_DENY, "default", NULL},
    {FS("{\"files\":[\"/kb/x/../secret\"]}"), AGENTAUTHZ_ASK, "fs-has", NULL},
    {FS("{\"files\":[\"/kb/secret/x\"]}"), AGENTAUTHZ_DENY, "default", NULL},
    {FS("{\"path\":\"/a/./b/../\"}"), AGENTAUTHZ_ALLOW, "fs-short", NULL},
    {FS("{\"path\":\"/a/./bc/\"}"), AGENTAUTHZ_DENY, "default", NULL},
    {FS("{\"path\":7}"), AGENTAUTHZ_DENY, "default", NULL},
    /* an argument the catalogue does not mark is matched as written */
    {FS("{\"other\":\"../../x\"}"), AGENTAUTHZ_DENY, "default", NULL},
};

/* ---- resource and destination arguments (issue 12, item 2) ---- */

static const char *const catargs_policy =
    "agentauthz: 1\n"
    "tools:\n"
    "  fs.move_file: { resources: [source, destination] }\n"
    "  fs.read_multiple_files: { resources: [paths], produces: [internal] }\n"
    "  fs.copy: { resources: [opts.from], destinations: [opts.to] }\n"
    "  mail.send: { destinations: [to, cc, bcc], sink: true }\n"
    "tasks:\n"
    "  t: { limits: { per_tool: { fs.move_file: 2 } } }\n"
    "rules:\n"
    "  - id: no-secret\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where: { resource: { glob: \"/secret/**\" } }\n"
    "  - id: ws\n"
    "    effect: allow\n"
    "    tools: [fs.move_file, fs.read_multiple_files]\n"
    "    where: { resource: { glob: \"/ws/**\" } }\n"
    "  - id: shared-ask\n"
    "    effect: ask\n"
    "    tools: [fs.move_file]\n"
    "    where: { resource: { glob: \"/ws/shared/**\" } }\n"
    "  - id: copy-out\n"
    "    effect: allow\n"
    "    tools: [fs.copy]\n"
    "    where: { resource: { glob: \"/ws/**\" }, destination: { domain: [backup.example] } }\n"
    "  - id: corp-mail\n"
    "    effect: allow\n"
    "    tools: [mail.send]\n"
    "    where: { destination: { domain: [corp.example] } }\n"
    "  - id: no-bob\n"
    "    effect: deny\n"
    "    tools: [mail.send]\n"
    "    where: { destination: { eq: bob@corp.example } }\n"
    "  - id: few\n"
    "    effect: deny\n"
    "    tools: [mail.send]\n"
    "    where: { destination: { not: { len_lte: 3 } } }\n";

#define MOVE(args) "{\"tool\":\"fs.move_file\",\"args\":" args "}"
#define READN(args) "{\"tool\":\"fs.read_multiple_files\",\"args\":" args "}"
#define SEND(args) "{\"tool\":\"mail.send\",\"args\":" args "}"

static const path_case catargs_cases[] = {
    /* move_file: both ends are resources */
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/b\"}"), AGENTAUTHZ_ALLOW, "ws", NULL},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/secret/b\"}"), AGENTAUTHZ_DENY,
     "no-secret", NULL},
    {MOVE("{\"source\":\"/secret/a\",\"destination\":\"/ws/b\"}"), AGENTAUTHZ_DENY,
     "no-secret", NULL},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/etc/b\"}"), AGENTAUTHZ_DENY, "default",
     NULL},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/../secret/b\"}"), AGENTAUTHZ_DENY,
     "no-secret", NULL},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/../../b\"}"), AGENTAUTHZ_DENY, "input",
     "argument \"destination\": path climbs above its root"},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/shared/b\"}"), AGENTAUTHZ_ASK,
     "shared-ask", NULL},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/secret/b\"}"), AGENTAUTHZ_ALLOW, "ws",
     NULL},
    /* one side missing or null: the other still decides */
    {MOVE("{\"source\":\"/ws/a\"}"), AGENTAUTHZ_ALLOW, "ws", NULL},
    {MOVE("{\"source\":\"/ws/a\",\"destination\":null}"), AGENTAUTHZ_ALLOW, "ws", NULL},
    {MOVE("{\"other\":\"/ws/a\"}"), AGENTAUTHZ_DENY, "default", NULL},
    /* the host's resource counts as a value too */
    {"{\"tool\":\"fs.move_file\",\"resource\":\"/secret/x\",\"args\":{\"source\":\"/ws/a\","
     "\"destination\":\"/ws/b\"}}",
     AGENTAUTHZ_DENY, "no-secret", NULL},
    {"{\"tool\":\"fs.move_file\",\"resource\":\"/ws/x\",\"args\":{\"source\":\"/ws/a\"}}",
     AGENTAUTHZ_ALLOW, "ws", NULL},
    /* other types are refused before the rules */
    {MOVE("{\"source\":\"/ws/a\",\"destination\":7}"), AGENTAUTHZ_DENY, "input",
     "argument \"destination\": a resource or destination argument must be a string"},
    {MOVE("{\"source\":{\"p\":\"/secret/a\"}}"), AGENTAUTHZ_DENY, "input", "argument \"source\""},
    {READN("{\"paths\":[\"/ws/a\",[\"/secret/x\"]]}"), AGENTAUTHZ_DENY, "input",
     "argument \"paths\""},
    /* read_multiple_files: every path of the list */
    {READN("{\"paths\":[\"/ws/a\",\"/ws/b\",\"/ws/c\"]}"), AGENTAUTHZ_ALLOW, "ws", NULL},
    {READN("{\"paths\":[\"/ws/a\",\"/secret/k\",\"/ws/c\"]}"), AGENTAUTHZ_DENY, "no-secret",
     NULL},
    {READN("{\"paths\":[\"/ws/a\",\"/ws/b\",\"/wsx/c\"]}"), AGENTAUTHZ_DENY, "default", NULL},
    {READN("{\"paths\":[\"/ws/a\",\"/ws/./b/../../secret/k\"]}"), AGENTAUTHZ_DENY, "no-secret",
     NULL},
    {READN("{\"paths\":[]}"), AGENTAUTHZ_DENY, "default", NULL},
    {READN("{\"paths\":\"/ws/a\"}"), AGENTAUTHZ_ALLOW, "ws", NULL},
    /* nested arguments, resources and destinations together */
    {"{\"tool\":\"fs.copy\",\"args\":{\"opts\":{\"from\":\"/ws/a\",\"to\":"
     "\"https://backup.example/x\"}}}",
     AGENTAUTHZ_ALLOW, "copy-out", NULL},
    {"{\"tool\":\"fs.copy\",\"args\":{\"opts\":{\"from\":\"/ws/a\",\"to\":"
     "[\"https://backup.example/x\",\"https://evil.example/x\"]}}}",
     AGENTAUTHZ_DENY, "default", NULL},
    {"{\"tool\":\"fs.copy\",\"args\":{\"opts\":{\"from\":[\"/ws/a\",\"/secret/b\"],\"to\":"
     "\"https://backup.example/x\"}}}",
     AGENTAUTHZ_DENY, "no-secret", NULL},
    /* send: to, cc and bcc are all destinations */
    {SEND("{\"to\":\"a@corp.example\",\"cc\":[\"b@corp.example\"]}"), AGENTAUTHZ_ALLOW,
     "corp-mail", NULL},
    {SEND("{\"to\":\"a@corp.example\",\"bcc\":[\"x@evil.example\"]}"), AGENTAUTHZ_DENY,
     "default", NULL},
    {SEND("{\"to\":\"a@corp.example\",\"bcc\":\"x@corp.example.evil.example\"}"),
     AGENTAUTHZ_DENY, "default", NULL},
    {SEND("{\"to\":\"a@corp.example\",\"cc\":[\"c@corp.example\",\"bob@corp.example\"]}"),
     AGENTAUTHZ_DENY, "no-bob", NULL},
    {SEND("{\"to\":\"a@corp.example\",\"bcc\":\"bob@corp.example\"}"), AGENTAUTHZ_DENY, "no-bob",
     NULL},
    {SEND("{\"to\":[\"a@corp.example\",\"b@corp.example\"],\"cc\":\"c@corp.example\"}"),
     AGENTAUTHZ_ALLOW, "corp-mail", NULL},
    {SEND("{\"to\":[\"a@corp.example\",\"b@corp.example\"],\"cc\":\"c@corp.example\","
          "\"bcc\":\"d@corp.example\"}"),
     AGENTAUTHZ_DENY, "few", NULL},
    {SEND("{\"to\":\"a@corp.example\",\"bcc\":5}"), AGENTAUTHZ_DENY, "input",
     "argument \"bcc\""},
    /* the host's destinations count too */
    {"{\"tool\":\"mail.send\",\"destination\":\"x@evil.example\",\"args\":"
     "{\"to\":\"a@corp.example\"}}",
     AGENTAUTHZ_DENY, "default", NULL},
    {"{\"tool\":\"mail.send\",\"destination\":[\"b@corp.example\"],\"args\":"
     "{\"to\":\"a@corp.example\"}}",
     AGENTAUTHZ_ALLOW, "corp-mail", NULL},
    /* no recipient at all: destination is absent, as without the catalogue */
    {SEND("{}"), AGENTAUTHZ_DENY, "few", NULL},
};

START_TEST(test_catargs_case)
{
    const path_case *c = &catargs_cases[_i];
    agentauthz_engine *e = engine_with(NULL, catargs_policy, NULL);
    agentauthz_session *s;
    agentauthz_action *a;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    a = action_from_json(c->action);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_msg(d.effect == c->effect && strcmp(d.rule, c->rule) == 0 &&
                      (!c->reason || strstr(d.reason, c->reason)),
                  "%s: expected %s (%s: %s), got %s (%s: %s)", c->action,
                  agentauthz_effect_name(c->effect), c->rule, c->reason ? c->reason : "",
                  agentauthz_effect_name(d.effect), d.rule, d.reason);
    ck_assert_uint_eq(d.seq, 1);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/*
 * A check over several values is one check: one call counted (seq, the
 * per-tool limit), one approval used.
 */
START_TEST(test_catargs_effects_once)
{
    agentauthz_engine *e = engine_with(NULL, catargs_policy, NULL);
    agentauthz_session *s;
    agentauthz_action *a;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    a = action_from_json(MOVE("{\"source\":\"/ws/shared/a\",\"destination\":\"/ws/shared/b\"}"));
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK);
    ck_assert_uint_eq(d.seq, 1);
    ck_assert_int_eq(agentauthz_approve(s, a, AGENTAUTHZ_APPROVE_ONCE), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    ck_assert_str_eq(d.reason, "approved by the host");
    ck_assert_uint_eq(d.seq, 2);
    /* the approval was used once, and the per-tool limit (2) counted checks, not values */
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.rule, "limit");
    ck_assert_uint_eq(d.seq, 3);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* At most 1024 resource values (AZ_MAX_ARG_VALUES) are checked; more is refused. */
START_TEST(test_catargs_bound)
{
    agentauthz_engine *e = engine_with(NULL, catargs_policy, NULL);
    agentauthz_session *s;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    for (size_t n = 1024; n <= 1025; n++) {
        agentauthz_action *a = NULL;
        agentauthz_value *paths = agentauthz_value_list();
        ck_assert_ptr_nonnull(paths);
        for (size_t i = 0; i < n; i++) {
            char p[32];
            snprintf(p, sizeof p, "/ws/f%zu", i);
            /* one near the end is denied: every value is looked at */
            ck_assert_int_eq(agentauthz_value_list_append(
                                 paths, agentauthz_value_string(i == 1022 ? "/secret/k" : p)),
                             0);
        }
        ck_assert_int_eq(agentauthz_action_new(&a), 0);
        ck_assert_int_eq(agentauthz_action_set_tool(a, "fs.read_multiple_files"), 0);
        ck_assert_int_eq(agentauthz_action_set_arg(a, "paths", paths), 0);
        ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
        ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
        ck_assert_str_eq(d.rule, n == 1024 ? "no-secret" : "input");
        if (n == 1025)
            ck_assert_ptr_nonnull(strstr(d.reason, "over 1024 resource or destination values"));
        agentauthz_action_free(a);
    }
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* A delegated session's ancestors decide per value too (their dry run). */
START_TEST(test_catargs_delegated)
{
    static const char *const pol =
        "agentauthz: 1\n"
        "tools:\n  fs.move_file: { resources: [source, destination] }\n"
        "tasks:\n  p: {}\n  c: {}\n"
        "rules:\n"
        "  - { id: parent-moves, effect: allow, tasks: [p], tools: [fs.move_file] }\n"
        "  - { id: parent-private, effect: deny, tasks: [p], tools: [fs.move_file],\n"
        "      where: { resource: { glob: \"/ws/private/**\" } } }\n"
        "  - { id: child-ws, effect: allow, tasks: [c], tools: [fs.move_file],\n"
        "      where: { resource: { glob: \"/ws/**\" } } }\n";
    agentauthz_engine *e = engine_with(NULL, pol, NULL);
    agentauthz_session *s, *child = NULL;
    agentauthz_error err;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "p", NULL);
    ck_assert_int_eq(agentauthz_session_delegate(s, "y", "c", NULL, &child, &err), 0);
    expect_decision(child, MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/b\"}"),
                    AGENTAUTHZ_ALLOW, "child-ws");
    expect_decision(child, MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/private/b\"}"),
                    AGENTAUTHZ_DENY, "parent-private");
    expect_decision(child, MOVE("{\"source\":\"/ws/private/a\",\"destination\":\"/ws/b\"}"),
                    AGENTAUTHZ_DENY, "parent-private");
    expect_decision(child, MOVE("{\"source\":\"/ws/a\",\"destination\":\"/ws/privatex/b\"}"),
                    AGENTAUTHZ_ALLOW, "child-ws");
    agentauthz_session_close(child);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* defaults: {uncatalogued_tools: deny} (issue 12, item 2): a tool the catalogue lacks is denied. */
START_TEST(test_uncatalogued_tools)
{
    static const char *const pol =
        "agentauthz: 1\n"
        "defaults: { uncatalogued_tools: deny }\n"
        "tools:\n"
        "  fs.read_file: { resources: [path] }\n"
        "  list_allowed_directories: {}\n"
        "tasks:\n  t: {}\n"
        "rules:\n"
        "  - { id: all, effect: allow, tools: [\"*\"] }\n";
    agentauthz_engine *e = engine_with(NULL, pol, NULL);
    agentauthz_session *s;
    agentauthz_action *a;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    expect_decision(s, "{\"tool\":\"fs.read_file\",\"args\":{\"path\":\"/a\"}}", AGENTAUTHZ_ALLOW,
                    "all");
    expect_decision(s, "{\"tool\":\"list_allowed_directories\"}", AGENTAUTHZ_ALLOW, "all");
    a = action_from_json("{\"tool\":\"fs.read_file2\",\"args\":{\"path\":\"/a\"}}");
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.rule, "catalogue");
    ck_assert_str_eq(d.reason, "tool \"fs.read_file2\" is not in the policy's catalogue");
    agentauthz_action_free(a);
    expect_decision(s, "{\"tool\":\"FS.READ_FILE\"}", AGENTAUTHZ_DENY, "catalogue");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
    /* allow, and the default, keep today's behaviour */
    e = engine_with(NULL,
                    "agentauthz: 1\ndefaults: { uncatalogued_tools: allow }\ntasks:\n  t: {}\n"
                    "rules:\n  - { id: all, effect: allow, tools: [\"*\"] }\n",
                    NULL);
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    expect_decision(s, "{\"tool\":\"fs.read_file2\"}", AGENTAUTHZ_ALLOW, "all");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_path_case)
{
    const path_case *c = &path_cases[_i];
    agentauthz_engine *e = engine_with(NULL, paths_policy, NULL);
    agentauthz_session *s;
    agentauthz_action *a;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    a = action_from_json(c->action);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_msg(d.effect == c->effect && strcmp(d.rule, c->rule) == 0 &&
                      (!c->reason || strstr(d.reason, c->reason)),
                  "%s: expected %s (%s: %s), got %s (%s: %s)", c->action,
                  agentauthz_effect_name(c->effect), c->rule, c->reason ? c->reason : "",
                  agentauthz_effect_name(d.effect), d.rule, d.reason);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* A path that needs rewriting must fit AZ_MAX_PATH (4096 bytes); one that is already normal need not. */
START_TEST(test_path_bounds)
{
    agentauthz_engine *e = engine_with(NULL, paths_policy, NULL);
    agentauthz_session *s = open_session(e, "x", "t", NULL);
    agentauthz_action *a;
    agentauthz_decision d;
    size_t n = 8192;
    char *r = malloc(n + 1);
    ck_assert_ptr_nonnull(r);
    memcpy(r, "/kb/", 4);
    memset(r + 4, 'a', n - 4);
    r[n] = '\0';
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(agentauthz_action_set_tool(a, "read_file"), 0);
    ck_assert_int_eq(agentauthz_action_set_resource(a, r), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.rule, "kb"); /* normal already: no copy, no bound */
    r[n - 1] = '/';                 /* a trailing '/': the rewrite would be 8191 bytes */
    ck_assert_int_eq(agentauthz_action_set_resource(a, r), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.rule, "input");
    ck_assert_ptr_nonnull(strstr(d.reason, "4096"));
    r[4096] = '\0'; /* "/kb/aaa...a/": 4095 bytes once normalised */
    ck_assert_int_eq(agentauthz_action_set_resource(a, r), 0);
    r[4095] = '/';
    ck_assert_int_eq(agentauthz_action_set_resource(a, r), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.rule, "kb");
    r[4096] = 'a';
    r[4097] = '/';
    r[4098] = '\0'; /* 4097 bytes once normalised */
    ck_assert_int_eq(agentauthz_action_set_resource(a, r), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.rule, "input");
    free(r);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/*
 * Issue 11, item 3: a derived field holds at most 1024 items; past that the
 * condition cannot be evaluated and the check is denied, in an allow rule
 * and in a deny rule alike, with a reason that says so. The session's
 * scratch is reused by the next check.
 */
static const char *const derived_bound_policy =
    "agentauthz: 1\n"
    "tasks: { t: {} }\n"
    "rules:\n"
    "  - { id: trusted-links, effect: allow, tools: [send],\n"
    "      where: { \"hosts(args.body)\": { each: { domain: corp.example } } } }\n"
    "  - { id: no-evil, effect: deny, tools: [post],\n"
    "      where: { \"hosts(payload)\": { some: { domain: evil.example } } } }\n"
    "  - { id: post, effect: allow, tools: [post] }\n";

static void check_links(agentauthz_session *s, const char *tool, size_t n, const char *rule,
                        agentauthz_effect effect)
{
    static const char unit[] = "https://corp.example ";
    size_t ul = sizeof unit - 1;
    char *text = malloc(n * ul + 1);
    agentauthz_action *a;
    agentauthz_decision d;
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * ul, unit, ul);
    text[n * ul] = '\0';
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(agentauthz_action_set_tool(a, tool), 0);
    if (strcmp(tool, "send") == 0)
        ck_assert_int_eq(agentauthz_action_set_arg_string(a, "body", text, n * ul), 0);
    else
        ck_assert_int_eq(agentauthz_action_set_payload(a, text, n * ul), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_msg(d.effect == effect && strcmp(d.rule, rule) == 0, "%s x%zu: %s %s: %s", tool, n,
                  agentauthz_effect_name(d.effect), d.rule, d.reason);
    if (effect == AGENTAUTHZ_DENY)
        ck_assert_ptr_nonnull(strstr(d.reason, "more than 1024"));
    agentauthz_action_free(a);
    free(text);
}

START_TEST(test_derived_bounds)
{
    agentauthz_engine *e = engine_with(NULL, derived_bound_policy, NULL);
    agentauthz_session *s;
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "x", "t", NULL);
    check_links(s, "send", 1024, "trusted-links", AGENTAUTHZ_ALLOW);
    check_links(s, "send", 1025, "trusted-links", AGENTAUTHZ_DENY);
    check_links(s, "send", 3, "trusted-links", AGENTAUTHZ_ALLOW);
    check_links(s, "post", 1024, "post", AGENTAUTHZ_ALLOW);
    check_links(s, "post", 1025, "no-evil", AGENTAUTHZ_DENY);
    check_links(s, "post", 1, "post", AGENTAUTHZ_ALLOW);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* A delegated session's ancestors see the same normalised input (their dry run). */
START_TEST(test_path_delegated)
{
    agentauthz_engine *e = engine_with(NULL, paths_policy, NULL);
    agentauthz_session *s = open_session(e, "x", "t", NULL), *child = NULL;
    agentauthz_error err;
    ck_assert_int_eq(agentauthz_session_delegate(s, "y", "t", NULL, &child, &err), 0);
    expect_decision(child, RES("/kb/a/../b"), AGENTAUTHZ_ALLOW, "kb");
    expect_decision(child, RES("/kb/../etc/passwd"), AGENTAUTHZ_DENY, "default");
    expect_decision(child, RES("/kb/../../etc/passwd"), AGENTAUTHZ_DENY, "input");
    agentauthz_session_close(child);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/*
 * Issue 9 item 5: a deny on cidr is not bypassed by a URL, host:port,
 * [IPv6]:port or a legacy IPv4 form that URL and HTTP clients read as the
 * address (decimal, octal, hex, short forms). A host cidr cannot read
 * exactly makes the check a deny whatever the rules say.
 */
static const char *const cidr_policy =
    "agentauthz: 1\n"
    "tasks: {t: {}}\n"
    "rules:\n"
    "  - { id: all, effect: allow, tools: [fetch] }\n"
    "  - id: metadata\n"
    "    effect: deny\n"
    "    tools: [fetch]\n"
    "    where: { destination: { cidr: [169.254.0.0/16, \"fe80::/10\"] } }\n";

START_TEST(test_cidr_destinations)
{
    static const char *const caught[] = {
        "169.254.169.254",
        "http://169.254.169.254/latest/meta-data/",
        "169.254.169.254:80",
        "[::ffff:169.254.169.254]:80",
        "http://[::ffff:a9fe:a9fe]:80/",
        "::ffff:169.254.169.254",
        "https://user:pw@169.254.169.254./x?y#z",
        "bob@169.254.169.254",
        "http://[fe80::1]/",
    };
    static const char *const unreadable[] = {
        "2852039166",
        "http://2852039166/",
        "0xa9fea9fe",
        "http://0xA9.0xFE.0xA9.0xFE/",
        "0251.0376.0251.0376",
        "169.254.43518",
        "169.16689662:80",
        "http://0169.254.169.254/",
        "http://169.254.169.254\\@evil.example/",
        "http://%31%36%39.254.169.254/",
        "http://[fe80::1%25eth0]/",
        "http://[169.254.169.254]/",
        "http://1.2.3.4.5/",
        "http://169.254.169.254:99999/",
        "http://169.254.169.254 /",
    };
    static const char *const allowed[] = {
        "169.253.255.255",
        "http://169.255.0.1/",
        "https://api.corp.example/x",
        "api.corp.example:443",
        "[2001:db8::1]:80",
        "http://10.0.0.1/",
        "https://1password.example/",
    };
    agentauthz_engine *e = engine_with(NULL, cidr_policy, NULL);
    agentauthz_session *s;
    char action[256];
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "agent/1", "t", NULL);
    for (size_t i = 0; i < sizeof caught / sizeof *caught; i++) {
        agentauthz_value *v = agentauthz_value_string(caught[i]);
        char *json = NULL;
        ck_assert_int_eq(agentauthz_value_to_json(v, &json, NULL), 0);
        snprintf(action, sizeof action, "{\"tool\":\"fetch\",\"destination\":%s}", json);
        expect_decision(s, action, AGENTAUTHZ_DENY, "metadata");
        agentauthz_free(json);
        agentauthz_value_free(v);
    }
    for (size_t i = 0; i < sizeof unreadable / sizeof *unreadable; i++) {
        agentauthz_value *v = agentauthz_value_string(unreadable[i]);
        char *json = NULL;
        ck_assert_int_eq(agentauthz_value_to_json(v, &json, NULL), 0);
        snprintf(action, sizeof action, "{\"tool\":\"fetch\",\"destination\":%s}", json);
        expect_decision(s, action, AGENTAUTHZ_DENY, NULL);
        agentauthz_free(json);
        agentauthz_value_free(v);
    }
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        snprintf(action, sizeof action, "{\"tool\":\"fetch\",\"destination\":\"%s\"}", allowed[i]);
        expect_decision(s, action, AGENTAUTHZ_ALLOW, "all");
    }
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/*
 * The same for domain with an address operand: "2852039166" is
 * 169.254.169.254 to HTTP clients, so a deny on domain: [169.254.169.254]
 * must not be passed by it (domain makes such a check a deny, as cidr does).
 */
static const char *const domain_ip_policy =
    "agentauthz: 1\n"
    "tasks: {t: {}}\n"
    "rules:\n"
    "  - { id: all, effect: allow, tools: [fetch] }\n"
    "  - { id: metadata, effect: deny, tools: [fetch],\n"
    "      where: { destination: { domain: [169.254.169.254] } } }\n";

START_TEST(test_domain_ip_destinations)
{
    static const char *const caught[] = {
        "169.254.169.254", "http://169.254.169.254/latest/meta-data/", "169.254.169.254:80",
        "[::ffff:169.254.169.254]:80",
    };
    static const char *const numeric[] = {
        "2852039166",          "http://2852039166/", "0xa9fea9fe", "http://0xA9.0xFE.0xA9.0xFE/",
        "0251.0376.0251.0376", "169.254.43518",      "169.16689662:80", "http://0169.254.169.254/",
    };
    static const char *const allowed[] = {
        "169.254.169.253", "http://169.254.169.255/", "api.corp.example", "http://10.0.0.1/",
        "https://1password.example/", "169.254.169.254.nip.io",
    };
    agentauthz_engine *e = engine_with(NULL, domain_ip_policy, NULL);
    agentauthz_session *s;
    char action[256];
    ck_assert_ptr_nonnull(e);
    s = open_session(e, "agent/1", "t", NULL);
    for (size_t i = 0; i < sizeof caught / sizeof *caught; i++) {
        snprintf(action, sizeof action, "{\"tool\":\"fetch\",\"destination\":\"%s\"}", caught[i]);
        expect_decision(s, action, AGENTAUTHZ_DENY, "metadata");
    }
    for (size_t i = 0; i < sizeof numeric / sizeof *numeric; i++) {
        snprintf(action, sizeof action, "{\"tool\":\"fetch\",\"destination\":\"%s\"}", numeric[i]);
        expect_decision(s, action, AGENTAUTHZ_DENY, NULL);
    }
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        snprintf(action, sizeof action, "{\"tool\":\"fetch\",\"destination\":\"%s\"}", allowed[i]);
        expect_decision(s, action, AGENTAUTHZ_ALLOW, "all");
    }
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("where");
    tcase_add_loop_test(tc, test_where_case, 0, (int)(sizeof cases / sizeof cases[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("decision");
    tcase_add_test(tc, test_deny_over_ask_over_allow);
    tcase_add_test(tc, test_approvals);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_taint_and_revoke);
    tcase_add_test(tc, test_scope_beyond_64);
    tcase_add_test(tc, test_label_bound_denies_and_adds_nothing);
    tcase_add_test(tc, test_destination_list_of_one);
    tcase_add_test(tc, test_cidr_destinations);
    tcase_add_test(tc, test_domain_ip_destinations);
    suite_add_tcase(s, tc);
    tc = tcase_create("paths");
    tcase_add_loop_test(tc, test_path_case, 0, (int)(sizeof path_cases / sizeof path_cases[0]));
    tcase_add_test(tc, test_path_bounds);
    tcase_add_test(tc, test_path_delegated);
    tcase_add_test(tc, test_derived_bounds);
    tcase_add_loop_test(tc, test_catargs_case, 0,
                        (int)(sizeof catargs_cases / sizeof catargs_cases[0]));
    tcase_add_test(tc, test_catargs_effects_once);
    tcase_add_test(tc, test_uncatalogued_tools);
    tcase_add_test(tc, test_catargs_delegated);
    tcase_add_test(tc, test_catargs_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(eval_suite());
}
