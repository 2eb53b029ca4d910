package admin

// Test hooks for the external tests of this package.
var (
	ListenTLS   = listenTLS
	IsLoopback  = isLoopback
	DialAddress = dialAddress
	// StartWith is Start with the listening function injected: tests serve
	// a non-loopback configuration's TLS path on loopback with it.
	StartWith = start
)
