package web_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// scrape fetches url (with the bearer token when given) and parses it with
// Prometheus's own text parser into "name{k=v,…}" → value.
func scrape(t *testing.T, url, token string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			out[series(name, m)] = value(f.GetType(), m)
		}
	}
	return out
}

func series(name string, m *dto.Metric) string {
	var labels []string
	for _, l := range m.GetLabel() {
		labels = append(labels, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// TestMetricsCountDeliveriesDeferralsFailures delivers one message locally,
// has one deferred with 4.7.320 (the partner presents the wrong
// certificate) and one refused by the next hop (550 5.7.54, which also
// returns a DSN that is delivered locally), then asserts that each counter
// moved by exactly that much, scraped both on the admin listener (bearer
// token) and on the separate metrics listener (no token).
func TestMetricsCountDeliveriesDeferralsFailures(t *testing.T) {
	e := newEnv(t, "No relay")
	adminURL := e.base + "/metrics"
	openURL := "http://" + e.d.MetricsAddr.String() + "/metrics"

	// The admin listener's /metrics needs the token.
	if resp, err := http.Get(adminURL); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without token: %v %v", resp, err)
	}
	before := scrape(t, adminURL, e.token)

	e.send(t, "admin@contoso.com", "user@contoso.com", "local one")
	e.send(t, "admin@contoso.com", "user@partner.example", "deferred one")
	e.send(t, "admin@contoso.com", "user@fail.example", "failed one")

	front := frontend
	want := map[string]float64{
		"mailflow_messages_accepted_total{connector=" + front + "}":                                                                             3,
		"mailflow_deliveries_total{result=delivered,send_connector=Local,status=2.0.0}":                                                         2, // the message and the DSN
		"mailflow_deliveries_total{result=deferred,send_connector=To partner,status=4.7.320}":                                                   1,
		"mailflow_deliveries_total{result=failed,send_connector=To fail,status=5.7.54}":                                                         1,
		"mailflow_smtp_sessions_total{connector=" + front + ",result=accepted}":                                                                 3,
		"mailflow_smtp_sessions_total{connector=" + front + ",result=no_message}":                                                               1, // To partner's attempt
		"mailflow_smtp_sessions_total{connector=No relay,result=no_message}":                                                                    1, // To fail's attempt
		"mailflow_delivery_latency_seconds{send_connector=Local}":                                                                               2,
		"mailflow_starttls_handshakes_total{connector=" + front + ",result=ok,thumbprint=" + e.pki.Server1.Thumbprint + ",tls_version=TLS 1.3}": 3,
		// To partner's sender rejects CN=SERVER1 inside the handshake.
		"mailflow_starttls_handshakes_total{connector=" + front + ",result=failed,thumbprint=" + e.pki.Server1.Thumbprint + ",tls_version=}": 1,
		"mailflow_starttls_handshakes_total{connector=No relay,result=ok,thumbprint=" + e.pki.Server1.Thumbprint + ",tls_version=TLS 1.3}":   1,
		// The same two sessions seen from the send connectors (To partner's
		// check aborts the handshake: no version).
		"mailflow_outbound_starttls_total{result=rejected,send_connector=To partner,thumbprint=" + e.pki.Server1.Thumbprint + ",tls_version=}": 1,
		"mailflow_outbound_starttls_total{result=ok,send_connector=To fail,thumbprint=" + e.pki.Server1.Thumbprint + ",tls_version=TLS 1.3}":   1,
	}
	var after map[string]float64
	testkit.Poll(t, 30*time.Second, "counters to move", func() (bool, string) {
		after = scrape(t, adminURL, e.token)
		var missing []string
		for k, v := range want {
			if after[k]-before[k] < v {
				missing = append(missing, fmt.Sprintf("%s=%v", k, after[k]-before[k]))
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
	// The queue has settled: the deferred message waits an hour, the rest
	// is final. Every counter moved by exactly the expected amount.
	after = scrape(t, openURL, "")
	for k, v := range want {
		if got := after[k] - before[k]; got != v {
			t.Errorf("%s moved by %v, want %v", k, got, v)
		}
	}
	for k, v := range after {
		if strings.HasPrefix(k, "mailflow_deliveries_total") && v-before[k] != want[k] {
			t.Errorf("unexpected delivery count %s = %v", k, v-before[k])
		}
	}
	// Gauges read at scrape time: one recipient waits for To partner, in
	// Retry; the certificate the frontend presents is exported with its
	// expiry.
	if got := after["mailflow_queue_recipients{next_hop=To partner,state="+string(queue.StateRetry)+"}"]; got != 1 {
		t.Errorf("queue depth for To partner = %v, want 1", got)
	}
	if got := after["mailflow_queue_oldest_message_age_seconds{next_hop=To partner}"]; got <= 0 {
		t.Errorf("oldest message age for To partner = %v, want > 0", got)
	}
	na := after["mailflow_certificate_not_after_timestamp_seconds{connector="+front+",subject="+e.pki.Server1.Subject+",thumbprint="+e.pki.Server1.Thumbprint+"}"]
	if int64(na) != e.pki.Server1.Leaf.NotAfter.Unix() {
		t.Errorf("certificate not_after = %v, want %d", na, e.pki.Server1.Leaf.NotAfter.Unix())
	}
	if _, ok := after["mailflow_protocol_log_lines_dropped_total{log=receive}"]; !ok {
		t.Error("no mailflow_protocol_log_lines_dropped_total for the receive log")
	}
}
