package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// ErrNotRunning means no mailflow server answers on the configuration's
// admin address: the CLI then edits the file offline.
var ErrNotRunning = errors.New("no running mailflow server answers on the admin API")

// Client talks to a running server's admin API.
type Client struct {
	Base  string // http://127.0.0.1:8025
	Token string
	HTTP  *http.Client
}

// ClientFor builds a client from a configuration file (admin.listen and
// the token file) and checks that the server answers.
func ClientFor(cfgPath string) (*Client, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if !cfg.AdminEnabled() {
		return nil, fmt.Errorf("%w (admin.listen is off in %s)", ErrNotRunning, cfgPath)
	}
	tok, err := ReadToken(cfg.AdminTokenFile())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	base := "http://" + dialAddress(cfg.Admin.Listen)
	if !isLoopback(cfg.Admin.Listen) {
		store, errs := node.LoadCertificates(cfg)
		if len(errs) > 0 {
			return nil, errs
		}
		want, err := certificate(cfg, store, time.Now())
		if err != nil {
			return nil, err
		}
		hc.Transport = &http.Transport{TLSClientConfig: clientTLS(want)}
		base = "https://" + dialAddress(cfg.Admin.Listen)
	}
	c := &Client{Base: base, Token: tok, HTTP: hc}
	var st Status
	if err := c.Do("GET", "/api/v1/status", nil, &st); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w at %s", ErrNotRunning, cfg.Admin.Listen)
		}
		return nil, err
	}
	return c, nil
}

// APIError is an error answer from the API.
type APIError struct {
	Code     int
	Msg      string
	Findings lifecycle.Findings // the renewal guard's findings when it refused a certificate
}

func (e *APIError) Error() string { return e.Msg }

// Do performs one request; in is sent as JSON, the answer decoded into out.
func (c *Client) Do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error    string             `json:"error"`
			Findings lifecycle.Findings `json:"findings"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(data)
		}
		return &APIError{Code: resp.StatusCode, Msg: e.Error, Findings: e.Findings}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// SetConnector changes connector fields live.
func (c *Client) SetConnector(kind, name string, fields map[string]any) ([]ConnectorInfo, error) {
	var out []ConnectorInfo
	err := c.Do("PATCH", "/api/v1/connectors/"+url.PathEscape(kind)+"/"+url.PathEscape(name), ConnectorChange{Fields: fields}, &out)
	return out, err
}

// Connectors lists the live connectors.
func (c *Client) Connectors() ([]ConnectorInfo, error) {
	return c.PredictConnectors(certs.VersionMailflow)
}

// PredictConnectors lists the connectors with the certificates an Exchange
// server of version v would present (the server's own for the zero
// version).
func (c *Client) PredictConnectors(v certs.Version) ([]ConnectorInfo, error) {
	var out []ConnectorInfo
	path := "/api/v1/connectors"
	if v != certs.VersionMailflow {
		path += "?exchange_version=" + url.QueryEscape(string(v))
	}
	return out, c.Do("GET", path, nil, &out)
}

// Certificates lists the live certificate store.
func (c *Client) Certificates() ([]certs.Info, error) {
	var out []certs.Info
	return out, c.Do("GET", "/api/v1/certificates", nil, &out)
}

// ImportCertificate adds a certificate file live. A refusal by the
// renewal guard is an *APIError whose Findings hold the problems and
// fixes.
func (c *Client) ImportCertificate(req ImportRequest) (ImportResult, error) {
	var out ImportResult
	return out, c.Do("POST", "/api/v1/certificates", req, &out)
}

// RemoveCertificate removes a certificate live.
func (c *Client) RemoveCertificate(thumbprint string) error {
	return c.Do("DELETE", "/api/v1/certificates/"+url.PathEscape(thumbprint), nil, nil)
}

// Queue lists queued messages.
func (c *Client) Queue() ([]QueuedMessage, error) {
	var out []QueuedMessage
	return out, c.Do("GET", "/api/v1/queue", nil, &out)
}

// QueueStats counts queued messages, recipients by state and leases by node.
func (c *Client) QueueStats() (queue.Stats, error) {
	var out queue.Stats
	return out, c.Do("GET", "/api/v1/queue/stats", nil, &out)
}

// Retry makes a message (or all, with "") due now.
func (c *Client) Retry(id string) error {
	return c.Do("POST", "/api/v1/queue/retry?id="+url.QueryEscape(id), nil, nil)
}

// Remove drops a queued message.
func (c *Client) Remove(id string) error {
	return c.Do("DELETE", "/api/v1/queue/"+url.PathEscape(id), nil, nil)
}

// Hops lists the queue by next hop.
func (c *Client) Hops() ([]HopInfo, error) {
	var out []HopInfo
	return out, c.Do("GET", "/api/v1/queue/hops", nil, &out)
}

// Suspend holds delivery to a next hop until Resume.
func (c *Client) Suspend(hop string) error {
	return c.Do("POST", "/api/v1/queue/hops/"+url.PathEscape(hop)+"/suspend", nil, nil)
}

// Resume lifts a suspension and retries the hop's messages now.
func (c *Client) Resume(hop string) error {
	return c.Do("POST", "/api/v1/queue/hops/"+url.PathEscape(hop)+"/resume", nil, nil)
}

// Trace searches the message tracking log.
func (c *Client) Trace(f tracking.Filter) ([]tracking.Event, error) {
	q := url.Values{}
	if f.Sender != "" {
		q.Set("sender", f.Sender)
	}
	if f.Recipient != "" {
		q.Set("recipient", f.Recipient)
	}
	if f.MessageID != "" {
		q.Set("message_id", f.MessageID)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if len(f.EventIDs) > 0 {
		q.Set("event", strings.Join(f.EventIDs, ","))
	}
	var out []tracking.Event
	return out, c.Do("GET", "/api/v1/trace?"+q.Encode(), nil, &out)
}

// Reload asks the server to re-read its configuration file.
func (c *Client) Reload() error { return c.Do("POST", "/api/v1/reload", nil, nil) }

// Status returns the server status.
func (c *Client) Status() (Status, error) {
	var st Status
	return st, c.Do("GET", "/api/v1/status", nil, &st)
}
