//go:build tools

// Package tools pins kube-router, run on the real node with --run-firewall
// only: its NetworkPolicy enforcer (iptables + ipset). The router (BGP),
// service proxy and CNI parts, where the advisories against v2.1.0 are, are
// off.
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)
