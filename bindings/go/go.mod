module github.com/libagentauthz/libagentauthz/bindings/go

go 1.19
