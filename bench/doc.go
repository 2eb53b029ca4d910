// Package bench owns mailflow's whole-server benchmarks: bench/run (the
// entry point), the load generator and harness in bench/loadgen, and the
// configuration templates in bench/configs; see README.md. Its only Go test
// is a smoke run of the harness: benchmark figures never pass or fail a
// build, a harness that no longer runs does.
package bench
