package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/loopback"
	"github.com/mailflowhq/mailflow/internal/node"
)

// instance is one running mailflow: the transport started from its
// configuration file, its admin API, and the admin client the lab uses for
// every change, exactly as an administrator's CLI would.
type instance struct {
	Role   string // "tenant" or "on-premises"
	Config string // configuration file
	SMTP   string // main receive address, 127.0.0.1:port
	Relay  string // on-premises relay address (scenario 2), "" otherwise
	Submit string // on-premises Client Frontend (scenario 3), "" otherwise
	Admin  *admin.Client

	srv *node.Node
	api *admin.API
}

// world is a tenant and an on-premises server for one scenario. Each
// scenario starts from its own field report's initial state, so the two
// never depend on each other's leftovers.
type world struct {
	Name   string
	Dir    string
	Tenant *instance
	Onprem *instance
	Ports  ports
}

// startAttempts bounds retries when a port chosen free was taken by
// another process before the server could bind it.
const startAttempts = 3

// startScenario does the common start of a scenario's first step: it
// starts the scenario's servers under <lab dir>/sub, keeps them for Close
// and --keep, records them in the evidence, and returns them with the
// on-premises Default Frontend as the admin API lists it (also recorded).
func (l *Lab) startScenario(s *Step, name, sub string, shape worldShape) (*world, connectorView, error) {
	w, err := startWorld(name, filepath.Join(l.dir, sub), shape, l.pki, l.log)
	if err != nil {
		return nil, connectorView{}, err
	}
	l.worlds = append(l.worlds, w)
	s.evidence(w.describe()...)
	df, err := describeReceive(w.Onprem, defaultFrontend)
	if err != nil {
		return w, connectorView{}, err
	}
	s.evidence(df.line)
	return w, df, nil
}

// worldShape says which optional pieces a scenario's servers have.
type worldShape struct {
	Hybrid  bool // scenario 2: relay connector, mutual TLS connectors
	Devices bool // scenario 3: Client Frontend, relay via the tenant, OnPremises connector
	// Configure, when set, changes the configuration data before the
	// files are written (scenario 4's DANE set-up).
	Configure func(*configData)
}

// startWorld writes the configurations of a scenario into dir and starts
// both servers.
func startWorld(name, dir string, shape worldShape, pki *labpki.PKI, logger *slog.Logger) (*world, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	var lastErr error
	for range startAttempts {
		p, err := loopback.FreePorts(7)
		if err != nil {
			return nil, err
		}
		pt := ports{Onprem: p[0], OnpremRelay: p[1], OnpremAdmin: p[2], Tenant: p[3], TenantAdmin: p[4], OnpremSubmit: p[5], Nowhere: p[6]}
		d, err := newConfigData(name, shape, pt, dir, pki)
		if err != nil {
			return nil, err
		}
		if shape.Configure != nil {
			shape.Configure(&d)
		}
		onCfg, tenCfg, err := writeConfigs(dir, d)
		if err != nil {
			return nil, err
		}
		w := &world{Name: name, Dir: dir, Ports: pt}
		w.Onprem, err = startInstance("on-premises", onCfg, logger)
		if err == nil {
			w.Tenant, err = startInstance("tenant", tenCfg, logger)
			if err != nil {
				w.close(context.Background())
			}
		}
		if err == nil {
			w.Onprem.SMTP = fmt.Sprintf("127.0.0.1:%d", pt.Onprem)
			w.Tenant.SMTP = fmt.Sprintf("127.0.0.1:%d", pt.Tenant)
			if shape.Hybrid {
				w.Onprem.Relay = fmt.Sprintf("127.0.0.1:%d", pt.OnpremRelay)
			}
			if shape.Devices {
				w.Onprem.Submit = fmt.Sprintf("127.0.0.1:%d", pt.OnpremSubmit)
			}
			return w, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		// Another process took a port between choosing and binding: start
		// over with fresh data directories and new ports.
		for _, sub := range []string{"onprem-data", "tenant-data"} {
			os.RemoveAll(filepath.Join(dir, sub))
		}
	}
	return nil, lastErr
}

func startInstance(role, cfgPath string, logger *slog.Logger) (*instance, error) {
	// A new connection per message: every step meets the certificates and
	// records as the step before left them.
	srv, err := node.Start(cfgPath, node.Options{Logger: logger.With("instance", role), NewConnectionPerMessage: true})
	if err != nil {
		return nil, fmt.Errorf("start %s server from %s: %w", role, cfgPath, err)
	}
	api, err := admin.Start(srv, logger.With("instance", role, "component", "admin"))
	if err == nil && api == nil {
		err = errors.New("admin API is off in the configuration")
	}
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Close(ctx)
		cancel()
		return nil, fmt.Errorf("start %s admin API: %w", role, err)
	}
	token, err := admin.ReadToken(api.TokenFile())
	if err != nil {
		closeInstance(srv, api)
		return nil, fmt.Errorf("%s admin API: %w", role, err)
	}
	return &instance{
		Role: role, Config: cfgPath, srv: srv, api: api,
		Admin: &admin.Client{Base: "http://" + api.Addr(), Token: token, HTTP: &http.Client{Timeout: 15 * time.Second}},
	}, nil
}

func closeInstance(srv *node.Node, api *admin.API) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if api != nil {
		err = api.Close(ctx)
	}
	return errors.Join(err, srv.Close(ctx))
}

// close stops the world's servers.
func (w *world) close(ctx context.Context) error {
	var err error
	for _, in := range []*instance{w.Tenant, w.Onprem} {
		if in != nil && in.srv != nil {
			err = errors.Join(err, closeInstance(in.srv, in.api))
			in.srv = nil
		}
	}
	return err
}

// logDir is where the instance writes protocol and tracking logs; the
// lab reads them as an administrator reads a server's log directory.
func (in *instance) logDir() string { return in.srv.Runtime().Cfg.LogDir() }

// flushLogs writes buffered log lines so that reading the files sees
// everything up to now.
func (in *instance) flushLogs() { in.srv.FlushLogs() }

// freePorts returns n distinct loopback ports that were free a moment ago:
// all n listeners are held open together so the ports differ.
