package admin

import (
	"net/http"

	"github.com/mailflowhq/mailflow/internal/node"
)

// Liveness answers GET /healthz: 200 while the process serves HTTP at all
// (a supervisor restarts it otherwise). It needs no token: it says nothing
// but "ok".
func Liveness(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// Readiness answers GET /readyz: 200 while the node accepts mail, 503 with
// the reason once it is shutting down (a load balancer then stops sending
// new connections while sessions in flight finish).
func Readiness(n *node.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := n.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
}
