package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dane"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/node"
)

func newCertTLSACmd() *cobra.Command {
	var (
		cfgPath, connector, host, resolver string
		port                               int
		usage, selector, mtype             uint8
		check, asJSON                      bool
	)
	cmd := &cobra.Command{
		Use:   "tlsa --config FILE [--connector NAME | THUMBPRINT] [--usage 3 --selector 1 --type 1] [--check]",
		Short: "Print the DANE TLSA records to publish for the certificate a receive connector presents",
		Long: `Print, one per line in zone-file form, the TLSA record(s) to publish for the
certificate each receive connector presents (or --connector NAME's, or the certificate
THUMBPRINT served at --host/--port):

  _<port>._tcp.<fqdn>. IN TLSA 3 1 1 <hex>

The port is that of the connector's bindings (25 in production) and the name its fqdn:
the name your MX record points at. 3 1 1 (DANE-EE, public key, SHA-256) is the usual
choice: it stays valid across a renewal that keeps the key. 2 1 1 names the issuing
CA's key instead (the CA must then be sent in the chain).

--check also looks up what is published now (through the configuration's dns resolver,
or --resolver HOST:PORT, a validating one) and adds, as zone-file comments, whether the
presented certificate matches, with the rollover steps when it does not.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := dane.Params{Usage: usage, Selector: selector, MatchingType: mtype}
			if err := params.Check(); err != nil {
				return err
			}
			if len(args) == 1 && connector != "" {
				return fmt.Errorf("give --connector NAME or a THUMBPRINT, not both")
			}
			now := time.Now()
			rt, err := node.Build(cfgPath, now)
			if err != nil {
				return err
			}
			var recs []dane.Record
			var problems []string
			if len(args) == 1 {
				c := rt.Store.FindThumbprint(args[0])
				if c == nil {
					return fmt.Errorf("no certificate with thumbprint %s in %s; list them with mailflow cert list --config %s", args[0], cfgPath, cfgPath)
				}
				if host == "" {
					host = rt.Cfg.Server.FQDN
				}
				r, err := recordFor(c, host, port, params)
				if err != nil {
					return err
				}
				recs = append(recs, r)
			} else {
				recs, problems, err = dane.ConnectorRecords(rt.Cfg, rt.Store, connector, params, now)
				if err != nil {
					return err
				}
			}
			var pubs []*dane.Published
			validating := false
			if check {
				r := rt.DNS
				if resolver != "" {
					if r, err = dnsres.New(dnsres.Config{Servers: []string{resolver}, Mode: dnsres.TrustAD}); err != nil {
						return fmt.Errorf("--resolver: %w", err)
					}
				}
				validating = r.Validating()
				for _, rec := range recs {
					c := rt.Store.FindThumbprint(rec.Thumbprint)
					chain, err := dane.Chain(c)
					if err != nil {
						return err
					}
					ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
					p := dane.Lookup(ctx, r, chain, rec.Host, rec.Port)
					cancel()
					pubs = append(pubs, &p)
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				type out struct {
					dane.Record
					Line      string          `json:"line"`
					Published *dane.Published `json:"published,omitempty"`
				}
				list := []out{}
				for i, r := range recs {
					o := out{Record: r, Line: r.String()}
					if check {
						o.Published = pubs[i]
					}
					list = append(list, o)
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"records": list, "problems": problems}); err != nil {
					return err
				}
			} else {
				for i, r := range recs {
					fmt.Fprintln(w, r.String())
					if check {
						printPublished(w, r, *pubs[i], validating)
					}
				}
				for _, p := range problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "; %s\n", p)
				}
			}
			if len(recs) == 0 {
				return fmt.Errorf("no record to publish")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	f.StringVar(&connector, "connector", "", "receive connector (default: every enabled one)")
	f.StringVar(&host, "host", "", "with THUMBPRINT: the host name senders connect to (default server.fqdn)")
	f.IntVar(&port, "port", 25, "with THUMBPRINT: the port")
	f.Uint8Var(&usage, "usage", 3, "certificate usage: 3 DANE-EE (the server's key) or 2 DANE-TA (the issuing CA)")
	f.Uint8Var(&selector, "selector", 1, "selector: 1 public key or 0 whole certificate")
	f.Uint8Var(&mtype, "type", 1, "matching type: 1 SHA-256, 2 SHA-512 or 0 full data")
	f.BoolVar(&check, "check", false, "compare with the TLSA records published now")
	f.StringVar(&resolver, "resolver", "", "validating resolver HOST:PORT for --check (implies dnssec trust_ad); default the configuration's dns")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func recordFor(c *certs.Certificate, host string, port int, p dane.Params) (dane.Record, error) {
	chain, err := dane.Chain(c)
	if err != nil {
		return dane.Record{}, err
	}
	return dane.For(chain, host, port, p)
}

// printPublished adds what is published now as zone-file comments.
func printPublished(w interface{ Write([]byte) (int, error) }, r dane.Record, p dane.Published, validating bool) {
	switch {
	case p.Err != "":
		fmt.Fprintf(w, "; published: lookup failed: %s\n", p.Err)
	case len(p.Records) == 0:
		fmt.Fprintf(w, "; published: nothing at %s (%s) — publish the record above in a DNSSEC-signed zone\n", p.Owner, p.Security)
	default:
		state := "MATCHES the presented certificate"
		if !p.Matches() {
			state = "does NOT match the presented certificate: DANE senders defer with 450 4.7.323 tlsa-invalid"
		}
		fmt.Fprintf(w, "; published at %s (%s, TTL %d s): %s\n", p.Owner, p.Security, p.TTL, state)
		for _, t := range p.Records {
			fmt.Fprintf(w, ";   %s IN TLSA %s\n", p.Owner, t)
		}
		switch {
		case !validating:
			fmt.Fprintf(w, "; the DNSSEC status is unknown: the resolver is not trusted to validate (dns.dnssec off); give --resolver HOST:PORT of a validating resolver\n")
		case p.Security != dnsres.Secure:
			fmt.Fprintf(w, "; the answer is not DNSSEC-authenticated (%s): senders ignore the records until the zone is signed\n", p.Security)
		}
		if !p.Matches() {
			for i, s := range dane.RolloverSteps(p, r) {
				fmt.Fprintf(w, "; %d. %s\n", i+1, s)
			}
		}
	}
}
