//go:build tools

// Pins the packages hack/build-tools.sh --peers builds, so `go mod tidy`
// keeps their dependencies in go.sum.
package tools

import _ "go.universe.tf/metallb/controller"
