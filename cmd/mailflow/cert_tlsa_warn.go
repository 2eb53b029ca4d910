package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/dane"
	"github.com/mailflowhq/mailflow/internal/node"
)

// presentedNow is what the receive connectors of the configuration present
// (nil when it does not build).
func presentedNow(cfgPath string) []dane.Presented {
	rt, err := node.Build(cfgPath, time.Now())
	if err != nil {
		return nil
	}
	p, _ := dane.Connectors(rt.Cfg, rt.Store, "", time.Now())
	return p
}

// warnTLSA prints the renewal warning of every receive connector that
// presents a certificate the published TLSA records do not match. It
// looks records up only through resolvers the configuration names (a
// renewal must not query whatever resolver the machine has by surprise).
func warnTLSA(cmd *cobra.Command, cfgPath string, before []dane.Presented) {
	if before == nil {
		return
	}
	rt, err := node.Build(cfgPath, time.Now())
	if err != nil {
		return
	}
	after, err := dane.Connectors(rt.Cfg, rt.Store, "", time.Now())
	if err != nil {
		return
	}
	if len(rt.Cfg.DNS.Resolvers) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "TLSA records not checked (no dns.resolvers in %s); check them with: mailflow cert tlsa --config %s --check --resolver HOST:PORT\n", cfgPath, cfgPath)
		return
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
	defer cancel()
	for _, w := range dane.RenewalWarnings(ctx, rt.DNS, before, after, dane.DefaultParams, func(tp string) string {
		return fmt.Sprintf("mailflow cert remove %s --config %s (the previous certificate is presented again)", tp, cfgPath)
	}) {
		fmt.Fprint(cmd.ErrOrStderr(), w)
	}
}
