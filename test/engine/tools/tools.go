//go:build tools

// Package tools pins the Pulumi CLI the engine tests run. It is built from Pulumi's published Go
// modules by test/setup (go build in this module, so pkg/v3's own replace directives, which
// `go install pkg@version` refuses, do not apply) at the version of @pulumi/pulumi in
// package-lock.json. Test-only: nothing here ships.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
