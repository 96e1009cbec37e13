module github.com/libagentauthz/agentauthz-go/examples/go

go 1.19

require github.com/libagentauthz/agentauthz-go v0.0.0

replace github.com/libagentauthz/agentauthz-go => ../../bindings/go
