package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/loopguard"
	"github.com/mailflowhq/mailflow/internal/queue"
)

// Resolver looks up the _smtp._tls TXT record; *net.Resolver satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Submitter queues a message; the queue (and the receive service's
// submitter) satisfy it.
type Submitter interface {
	Put(ctx context.Context, env queue.Envelope, body []byte) (string, error)
}

// Reporter sends the reports of finished days.
type Reporter struct {
	Store    *Store
	Resolver Resolver
	Queue    Submitter
	// HTTP posts to https: rua; nil = a client with the system roots.
	HTTP *http.Client
	Meta Meta
	// From is the report messages' sender address.
	From   string
	Now    func() time.Time
	Logger *slog.Logger
}

// Sent is one report delivered (or handed to the queue).
type Sent struct {
	Day, Domain, To string
	QueueID         string // for mailto:
	Err             error
}

// SendDue sends the report of every day before today (UTC) that has counts
// and removes the counts of each day and domain it handled. A domain
// without a TLS-RPT record gets no report; its counts are dropped.
func (r *Reporter) SendDue(ctx context.Context) []Sent {
	today := r.Now().UTC().Format(time.DateOnly)
	var out []Sent
	for _, day := range r.Store.Days() {
		if day >= today {
			continue
		}
		for _, domain := range r.Store.Domains(day) {
			out = append(out, r.send(ctx, day, domain)...)
			if ctx.Err() != nil {
				return out
			}
			r.Store.Remove(day, domain)
		}
	}
	return out
}

func (r *Reporter) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Reporter) send(ctx context.Context, day, domain string) []Sent {
	rep, err := r.Store.Report(day, domain, r.Meta)
	if err != nil || rep == nil {
		return nil
	}
	rua, err := LookupRUA(ctx, r.Resolver, domain)
	if err != nil {
		if !errors.Is(err, errNoRecord) {
			r.logger().Warn("TLS-RPT report not sent", "domain", domain, "day", day, "error", err)
		}
		return nil
	}
	var out []Sent
	for _, u := range rua {
		s := Sent{Day: day, Domain: domain, To: u}
		if addr, ok := strings.CutPrefix(u, "mailto:"); ok {
			s.QueueID, s.Err = r.mail(ctx, rep, domain, addr)
		} else {
			s.Err = r.post(ctx, rep, u)
		}
		if s.Err != nil {
			r.logger().Warn("TLS-RPT report not sent", "domain", domain, "day", day, "to", u, "error", s.Err)
		} else {
			r.logger().Info("TLS-RPT report sent", "domain", domain, "day", day, "to", u, "queue_id", s.QueueID)
		}
		out = append(out, s)
	}
	return out
}

// LookupRUA returns the report addresses domain publishes.
func LookupRUA(ctx context.Context, res Resolver, domain string) ([]string, error) {
	if res == nil {
		res = loopguard.System()
	}
	txts, err := res.LookupTXT(ctx, "_smtp._tls."+domain)
	if err != nil {
		var de *net.DNSError
		var re *dnsres.Error
		if errors.As(err, &de) && de.IsNotFound || errors.As(err, &re) && re.NotFound {
			return nil, errNoRecord
		}
		return nil, fmt.Errorf("look up _smtp._tls.%s: %w", domain, err)
	}
	return pickRecord(txts)
}

// IsNoRecord reports whether err means the domain publishes no TLS-RPT
// record.
func IsNoRecord(err error) bool { return errors.Is(err, errNoRecord) }

func (r *Reporter) mail(ctx context.Context, rep *Report, domain, to string) (string, error) {
	now := r.Now()
	body, err := Message(rep, domain, r.Meta.Submitter, r.From, to, now)
	if err != nil {
		return "", err
	}
	env := queue.Envelope{
		From: r.From, To: []string{to}, ReceivedAt: now, Size: int64(len(body)),
		Subject: "Report Domain: " + domain, HeloName: r.Meta.Submitter,
	}
	return r.Queue.Put(ctx, env, body)
}

func (r *Reporter) post(ctx context.Context, rep *Report, url string) error {
	gz, err := rep.Gzip()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	client := r.HTTP
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s answered %s", url, resp.Status)
	}
	return nil
}
