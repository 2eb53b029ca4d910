package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// onprem is an on-premises configuration: one receive connector on
// 127.0.0.1:port pinned to pin, a send connector to partner.example whose
// smart host refuses connections (so messages stay queued), and the admin
// API on a free loopback port.
func onprem(port, deadPort int, pin string) string {
	return "# admin API fixture\n" + testkit.LabOnPrem + `admin:
  listen: 127.0.0.1:0
limits:
  max_connections_per_ip: 200
` + testkit.DefaultFrontend(port, pin) + fmt.Sprintf(`send_connectors:
  - name: To partner
    address_spaces: [partner.example]
    smart_hosts: ["127.0.0.1"]
    port: %d
`, deadPort)
}

// env is a running server with its admin API.
type env struct {
	dir, cfg string
	pki      *labpki.PKI
	srv      *node.Node
	api      *admin.API
	client   *admin.Client
	smtpAddr string
	logs     *testkit.LogBuffer // what the server and the API logged
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, cfg: filepath.Join(dir, "onprem.yaml"), pki: pki}
	testkit.WriteFile(t, e.cfg, onprem(testkit.FreePort(t), testkit.FreePort(t), pki.Server1.Name()))
	e.start(t)
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	logger, logs := testkit.RecordLogs(t)
	srv, api := startAPILogged(t, e.cfg, nil, logger)
	e.logs = logs
	t.Cleanup(func() { closeServer(t, srv, api) })
	token, err := admin.ReadToken(api.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.api = srv, api
	e.client = &admin.Client{Base: "http://" + api.Addr(), Token: token, HTTP: &http.Client{Timeout: 20 * time.Second}}
	e.smtpAddr = srv.Receiver().Addrs()[0].String()
}

// startAPI starts the server for cfg and its admin API, listening through
// listen (net.Listen when nil); the caller stops both with closeServer.
func startAPI(t *testing.T, cfg string, listen func(network, address string) (net.Listener, error)) (*node.Node, *admin.API) {
	t.Helper()
	return startAPILogged(t, cfg, listen, testkit.Logger(t))
}

// startAPILogged is startAPI logging to logger.
func startAPILogged(t *testing.T, cfg string, listen func(network, address string) (net.Listener, error), logger *slog.Logger) (*node.Node, *admin.API) {
	t.Helper()
	srv, err := node.Start(cfg, node.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if listen == nil {
		listen = net.Listen
	}
	api, err := admin.StartWith(srv, logger, listen)
	if err != nil {
		closeServer(t, srv, nil)
		t.Fatal(err)
	}
	return srv, api
}

func closeServer(t *testing.T, srv *node.Node, api *admin.API) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if api != nil {
		api.Close(ctx)
	}
	if err := srv.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// message is the message the tests send, with subject.
func message(subject string) string { return "Subject: " + subject + "\r\n\r\nhello\r\n" }

// deliver runs a transaction from sender@tenant.example to
// user@contoso.com and returns the last reply code.
func deliver(s *testkit.Session, subject string) (int, error) {
	return s.Send("sender@tenant.example", "user@contoso.com", message(subject))
}
