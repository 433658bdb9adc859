// Command coredns is CoreDNS with the plugins the node's cluster DNS uses.
// There is deliberately no `forward` plugin: no query ever leaves the
// machine; names outside cluster.local get NXDOMAIN from `template`.
package main

import (
	_ "github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func main() {
	coremain.Run()
}
