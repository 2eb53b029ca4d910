// Package loopback finds free TCP ports on 127.0.0.1 for the lab, the
// benchmarks and the tests, which only ever listen on the loopback range.
package loopback

import (
	"fmt"
	"net"
)

// FreePorts returns n distinct TCP ports free on 127.0.0.1 at the time of
// the call: all n listeners are held open until every port is known, so
// the same port is never handed out twice.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// FreePort returns one TCP port free on 127.0.0.1.
func FreePort() (int, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}
