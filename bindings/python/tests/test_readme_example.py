from agentauthz.testing import assert_allowed, assert_denied

POLICY = """{agentauthz: 1, tasks: {triage: {}},
  rules: [{id: kb, effect: allow, tools: [read_file], where: {resource: {glob: "/kb/**"}}}]}"""

def test_read_file_tool(session):
    s = session(POLICY, "agent/1", "triage")
    assert_allowed(s, "read_file", resource="/kb/faq.md")
    assert_denied(s, "read_file", rule="default", resource="/etc/passwd")
