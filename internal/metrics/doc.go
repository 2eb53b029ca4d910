// Package metrics owns mailflow's Prometheus metrics: what they are named,
// how queue events and receive sessions feed them, and the /metrics
// handler.
//
// Metrics observe; they never steer. Counters are fed by observer hooks
// (queue.Observer, receive.SessionObserver) that the transport calls after
// the fact, and the gauges (queue depth, oldest message, certificate
// expiry, dropped log lines) are read from the node only when Prometheus
// scrapes. Nothing in the transport waits on, or reads back, a metric.
package metrics
