"""Lint providers: gofmt, go vet, staticcheck, golangci-lint, govulncheck; SARIF output."""
