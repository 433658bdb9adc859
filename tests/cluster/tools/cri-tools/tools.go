//go:build tools

// Package tools pins crictl, which tests/cluster/down uses to stop and
// remove every pod sandbox through the CRI (so containerd tears down the
// pods' network namespaces and mounts) before it stops containerd.
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
