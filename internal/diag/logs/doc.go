// Package logs analyses Exchange-format protocol logs (SmtpReceive,
// SmtpSend) and message tracking logs: it streams them through the protolog
// and tracking readers — the same code that reads mailflow's own logs — in
// bounded memory and turns them into per-connector summaries (which
// certificate each connector presented, TLS failures, remote ranges) and
// findings with fixes. Recipient statuses are labelled with
// internal/diag/explain.
//
// It also generates realistic protocol logs of any size (GenerateProtocolLog)
// for the benchmarks.
package logs
