// Command loadgen is the engine behind bench/run: it starts mailflow and
// Postfix on loopback, drives both identically, alternates them round by
// round, and reports medians and ratios (mailflow / Postfix or another
// baseline) as a table and as JSON.
//
// Subcommands (bench/run only uses "run"; the others are the helper
// processes run starts, usable by hand):
//
//	loadgen run --mailflow BIN [flags]        the benchmarks (see bench/README.md)
//	loadgen sink [--cert PEM]                 SMTP sink, optionally with STARTTLS
//	loadgen tls-server --cert PEM             bare crypto/tls handshake server
//	loadgen serve --config F [--cpuprofile]   mailflow's transport in a profiled process
//	loadgen analyze [--cpuprofile F] PATH…    mailflow logs analyze --json, profiled
//	loadgen genlog --size 1G --out F          a generated SmtpReceive protocol log
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	args := os.Args[1:]
	sub := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	cmds := map[string]func([]string) error{
		"run": runCmd, "sink": sinkCmd, "tls-server": tlsServerCmd,
		"serve": serveCmd, "analyze": analyzeCmd, "genlog": genlogCmd,
	}
	cmd, ok := cmds[sub]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown subcommand %q (run, sink, tls-server, serve, analyze, genlog)\n", sub)
		os.Exit(2)
	}
	if err := cmd(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", sub, err)
		os.Exit(1)
	}
}
