//go:build tools

// Package tools pins the prometheus-adapter command so `go build` can name it.
package tools

import _ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
