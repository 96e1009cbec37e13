module github.com/libagentauthz/agentauthz-go

go 1.19
