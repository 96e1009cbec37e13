module github.com/libagentauthz/libagentauthz/examples/go

go 1.19

require github.com/libagentauthz/libagentauthz/bindings/go v0.0.0

replace github.com/libagentauthz/libagentauthz/bindings/go => ../../bindings/go
