module podhooks.io/authz-client

go 1.22
