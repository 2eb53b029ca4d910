package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
)

// Metrics holds mailflow's metrics in a registry of its own (no global
// state: two nodes in one test process do not share counters).
type Metrics struct {
	reg        *prometheus.Registry
	sessions   *prometheus.CounterVec
	handshakes *prometheus.CounterVec
	outbound   *prometheus.CounterVec
	accepted   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// New creates the metrics. Attach a node (after node.Start) to export the
// gauges read from it.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailflow_smtp_sessions_total",
		Help: "Inbound SMTP sessions by receive connector and result (accepted, no_message, refused, no_connector).",
	}, []string{"connector", "result"})
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailflow_starttls_handshakes_total",
		Help: "Inbound STARTTLS handshakes by receive connector, presented certificate thumbprint, TLS version and result (ok, failed).",
	}, []string{"connector", "thumbprint", "tls_version", "result"})
	m.outbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailflow_outbound_starttls_total",
		Help: "Outbound STARTTLS sessions by send connector, the next hop's certificate thumbprint, TLS version and result (ok; rejected: the connector's TLS check refused the certificate, usually inside the handshake, so without a version; failed: no TLS session).",
	}, []string{"send_connector", "thumbprint", "tls_version", "result"})
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailflow_messages_accepted_total",
		Help: "Messages accepted (250 after DATA) by receive connector.",
	}, []string{"connector"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailflow_deliveries_total",
		Help: "Delivery attempts per recipient by send connector (or Local), result (delivered, deferred, failed) and enhanced status code.",
	}, []string{"send_connector", "result", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mailflow_delivery_latency_seconds",
		Help:    "Time from queueing to successful delivery, per recipient, by send connector (or Local).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
	}, []string{"send_connector"})
	m.reg.MustRegister(m.sessions, m.handshakes, m.outbound, m.accepted, m.deliveries, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Attach exports the gauges read from n at scrape time.
func (m *Metrics) Attach(n *node.Node) { m.reg.MustRegister(&nodeCollector{n: n}) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// SessionEnded implements receive.SessionObserver.
func (m *Metrics) SessionEnded(connector, result string) {
	m.sessions.WithLabelValues(connector, result).Inc()
}

// Handshake implements receive.SessionObserver.
func (m *Metrics) Handshake(connector, thumbprint, version string, ok bool) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.handshakes.WithLabelValues(connector, thumbprint, version, result).Inc()
}

// OutboundTLS implements node.OutboundObserver.
func (m *Metrics) OutboundTLS(connector, thumbprint, version, result string) {
	m.outbound.WithLabelValues(connector, thumbprint, version, result).Inc()
}

// Accepted implements receive.SessionObserver.
func (m *Metrics) Accepted(connector string) { m.accepted.WithLabelValues(connector).Inc() }

// Observe implements queue.Observer: one count per recipient attempt.
func (m *Metrics) Observe(ev queue.Event) {
	var result string
	switch ev.Kind {
	case queue.EventSend, queue.EventDeliver:
		result = "delivered"
	case queue.EventDefer:
		result = "deferred"
	case queue.EventFail, queue.EventExpire:
		result = "failed"
	default:
		return
	}
	hop := ev.Result.Route
	if hop == "" {
		hop = node.HopUnroutable
	}
	m.deliveries.WithLabelValues(hop, result, node.Enhanced(ev.Result)).Inc()
	if result == "delivered" && ev.Msg != nil && !ev.Msg.Created.IsZero() {
		m.latency.WithLabelValues(hop).Observe(ev.Time.Sub(ev.Msg.Created).Seconds())
	}
}

// nodeCollector reads gauges from the node when Prometheus scrapes.
type nodeCollector struct{ n *node.Node }

var (
	queueDesc = prometheus.NewDesc("mailflow_queue_recipients",
		"Pending recipients in the queue by next hop and state (Ready, Retry).", []string{"next_hop", "state"}, nil)
	oldestDesc = prometheus.NewDesc("mailflow_queue_oldest_message_age_seconds",
		"Age of the oldest message waiting for a next hop.", []string{"next_hop"}, nil)
	suspendedDesc = prometheus.NewDesc("mailflow_queue_next_hop_suspended",
		"1 when delivery to the next hop is suspended by an administrator.", []string{"next_hop"}, nil)
	notAfterDesc = prometheus.NewDesc("mailflow_certificate_not_after_timestamp_seconds",
		"Expiry (NotAfter) of each loaded certificate, per connector presenting it (connector is empty when none does).",
		[]string{"thumbprint", "subject", "connector"}, nil)
	droppedDesc = prometheus.NewDesc("mailflow_protocol_log_lines_dropped_total",
		"Protocol log lines dropped because the log could not keep up.", []string{"log"}, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueDesc, oldestDesc, suspendedDesc, notAfterDesc, droppedDesc} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, h := range c.n.Hops() {
		for _, st := range []queue.State{queue.StateReady, queue.StateRetry} {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(h.ByState[st]), h.Name, string(st))
		}
		age := 0.0
		if !h.Oldest.IsZero() {
			age = now.Sub(h.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, h.Name)
		susp := 0.0
		if h.Suspended {
			susp = 1
		}
		ch <- prometheus.MustNewConstMetric(suspendedDesc, prometheus.GaugeValue, susp, h.Name)
	}
	for _, u := range c.n.CertificateUses() {
		na := float64(u.Cert.Leaf.NotAfter.Unix())
		if len(u.Uses) == 0 {
			ch <- prometheus.MustNewConstMetric(notAfterDesc, prometheus.GaugeValue, na, u.Cert.Thumbprint, u.Cert.Subject, "")
		}
		seen := map[string]bool{}
		for _, use := range u.Uses {
			if seen[use.Connector] {
				continue
			}
			seen[use.Connector] = true
			ch <- prometheus.MustNewConstMetric(notAfterDesc, prometheus.GaugeValue, na, u.Cert.Thumbprint, u.Cert.Subject, use.Connector)
		}
	}
	for name, n := range c.n.DroppedLogLines() {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), name)
	}
}
