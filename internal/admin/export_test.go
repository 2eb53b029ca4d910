package admin

import (
	"log/slog"
	"net"

	"github.com/mailflowhq/mailflow/internal/node"
)

// Test hooks for the external tests of this package.
var (
	ListenTLS   = listenTLS
	IsLoopback  = isLoopback
	DialAddress = dialAddress
	// StartWith is Start with the listening function injected: tests serve
	// a non-loopback configuration's TLS path on loopback with it.
	StartWith = func(srv *node.Node, logger *slog.Logger, listen func(network, address string) (net.Listener, error)) (*API, error) {
		return start(srv, logger, listen, Extras{})
	}
)
