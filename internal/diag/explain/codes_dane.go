package explain

// Entries for Exchange Online's outbound DANE (5.7.321-5.7.325) and MTA-STS
// failures. The table itself is in codes.go.

import "fmt"

// ---- DANE (Exchange Online outbound) ----

func (c explainCtx) mx() string { return c.hostOr("<MX host>") }

// daneProbe is the probe that judges the MX as a DANE sender does.
func (c explainCtx) daneProbe() string {
	return fmt.Sprintf("mailflow probe %s --resolver HOST:PORT --policy EncryptionOnly", c.endpoint())
}

// daneTLSA is the receiver-side command: what to publish, what is published.
const daneTLSA = "mailflow cert tlsa --config FILE --check"

func (c explainCtx) daneSeeAlso() []string {
	return []string{c.daneProbe() + " (HOST:PORT: a validating resolver, e.g. a local unbound)",
		"mailflow probe --mx <recipient domain> --resolver HOST:PORT",
		daneTLSA + " (on a mailflow receiver)"}
}

func daneEvidence(c explainCtx) []string {
	return []string{
		fmt.Sprintf("What a DANE sender sees — DNSSEC status, TLSA records, whether the presented chain matches them — in one report: %s, with HOST:PORT a validating resolver (the probe applies DANE exactly as mailflow's sender does).", c.daneProbe()),
		fmt.Sprintf("The TLSA records and their DNSSEC status by hand: dig +dnssec _25._tcp.%s TLSA (or delv for a validated answer).", c.mx()),
		fmt.Sprintf("What the MX presents: openssl s_client -starttls smtp -connect %s:25 -showcerts.", c.mx()),
	}
}

func buildDANE321(c explainCtx, e *Explanation) {
	e.Title = "DANE: starttls-not-supported — the MX must offer TLS because the domain publishes TLSA records"
	e.Cause = fmt.Sprintf("The recipient domain's MX %s has DNSSEC-authenticated TLSA records (DANE), which makes authenticated TLS mandatory, but the server did not offer STARTTLS or the TLS handshake failed. Exchange Online will not fall back to clear text.", c.mx())
	e.Evidence = append(daneEvidence(c), "On an Exchange receiver: event 12014 (no certificate for the connector's name disables STARTTLS).")
	e.Fix = []string{
		"Restore STARTTLS on the MX: give the receive connector a certificate for its name and Tls in AuthMechanism: " + pinFix(c.mx()),
		fmt.Sprintf("If the domain no longer runs DANE, remove the TLSA records at _25._tcp.%s (and wait for their TTL) rather than leaving them unserved.", c.mx()),
	}
	e.SeeAlso = c.daneSeeAlso()
}

func buildDANE322(c explainCtx, e *Explanation) {
	e.Title = "DANE: certificate-expired — the MX's certificate has expired"
	e.Cause = fmt.Sprintf("The domain passed DNSSEC checks, but the MX %s presented an expired certificate.", c.mx())
	e.Evidence = daneEvidence(c)
	e.Fix = []string{
		fmt.Sprintf("Renew the certificate for %s and enable it for SMTP; if a TLSA record pins the key (usage 3, selector 1) and the renewal changes the key, publish the new TLSA record alongside the old one first, wait two TTLs, then switch the certificate (mailflow: reuse_key: true on an acme: certificate keeps the key, so '3 1 1' records stay valid).", c.mx()),
		c.restartAndVerify(),
	}
	e.SeeAlso = append([]string{certCheck}, c.daneSeeAlso()...)
}

func buildDANE323(c explainCtx, e *Explanation) {
	e.Title = "DANE: tlsa-invalid — the certificate does not match the domain's TLSA records"
	e.Cause = fmt.Sprintf("The TLSA records at _25._tcp.%s are DNSSEC-authentic, but the certificate the MX presented matches none of them, or the records are malformed (this also covers a certificate whose start date is in the future). Typical after a certificate renewal with a new key without updating TLSA.", c.mx())
	e.Evidence = append(daneEvidence(c), "The SHA-256 of the presented key, to compare with a '3 1 1' record: openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256.")
	e.Fix = []string{
		fmt.Sprintf("Publish a TLSA record that matches the certificate in use: _25._tcp.%s IN TLSA 3 1 1 <sha256 of the public key> (or 2 1 1 for the issuing CA's key); keep old and new records during a rollover. On a mailflow receiver %s prints the exact record and compares it with what is published; mailflow cert import warns as soon as a new key breaks DANE.", c.mx(), daneTLSA),
		"Verify after the TTL: " + c.daneProbe() + ".",
	}
	e.SeeAlso = c.daneSeeAlso()
}

func buildDANE324(c explainCtx, e *Explanation) {
	e.Title = "DANE: dnssec-invalid — the domain's DNSSEC records do not validate"
	e.Cause = "The destination domain claims to be DNSSEC-signed (DS records at the parent), but its answers do not validate: a DS that no longer matches the DNSKEY after a key rollover, expired RRSIG signatures, or a broken chain of trust. Exchange Online refuses to deliver rather than ignore DANE."
	e.Evidence = []string{
		fmt.Sprintf("%s: a bogus answer is reported with the resolver's extended DNS error (EDE 6 DNSSEC Bogus, 7 Signature Expired, 9 DNSKEY Missing …).", c.daneProbe()),
		fmt.Sprintf("delv %s MX and dig +dnssec %s DNSKEY: a validation failure names the broken link.", c.mx(), c.mx()),
		"The DS records at the registrar against the zone's current DNSKEY.",
	}
	e.Fix = []string{
		"Repair the signing: re-sign the zone (fresh RRSIGs) and make the DS at the registrar match the current key-signing key.",
		"If the zone cannot be repaired quickly, remove the DS records at the registrar (the domain becomes unsigned and DANE no longer applies), then fix and re-enable DNSSEC.",
	}
	e.SeeAlso = c.daneSeeAlso()
}

func buildDANE325(c explainCtx, e *Explanation) {
	e.Title = "DANE: certificate-host-mismatch — the certificate names do not match the MX host"
	e.Cause = fmt.Sprintf("The certificate the MX %s presented has no CN or SAN matching the MX host name or the recipient domain.", c.mx())
	e.Evidence = daneEvidence(c)
	e.Fix = []string{
		fmt.Sprintf("Present a certificate whose SAN contains %s: %s", c.mx(), pinFix(c.mx())),
		c.restartAndVerify(),
	}
	e.SeeAlso = c.daneSeeAlso()
}

// ---- MTA-STS ----

func buildMTASTSCert(c explainCtx, e *Explanation) {
	why := nonBlank(c.f("MTASTSReason"), "(not given)")
	domain := nonBlank(c.f("Domain"), "<recipient domain>")
	e.Title = "MTA-STS: the MX certificate failed the domain's MTA-STS policy"
	e.Cause = fmt.Sprintf("The recipient domain publishes an MTA-STS policy in enforce mode, so the sender requires a certificate that is valid under public CAs and names the MX host; the MX %s failed that check (reason: %s). The sender will not deliver in clear text or to an unvalidated host.", c.mx(), why)
	e.Evidence = []string{
		fmt.Sprintf("The policy: curl https://mta-sts.%s/.well-known/mta-sts.txt (mode, mx: lines, max_age) and dig TXT _mta-sts.%s (the id).", domain, domain),
		fmt.Sprintf("The certificate as a PKIX validator sees it: %s (it must be publicly trusted and hold the MX name).", c.probe()),
		c.stsProbeEvidence(),
	}
	e.Fix = []string{
		fmt.Sprintf("Present a publicly trusted certificate whose SAN contains the MX host %s: %s", c.mx(), pinFix(c.mx())),
		fmt.Sprintf("While fixing, set the policy to mode: testing (and change the id in the _mta-sts.%s TXT record) so senders deliver and report instead of deferring.", domain),
	}
	e.SeeAlso = append([]string{c.probe()}, c.stsSeeAlso()...)
}

func buildMTASTSMX(c explainCtx, e *Explanation) {
	domain := c.stsDomain()
	e.Title = "MTA-STS: no MX host of the domain is allowed by its MTA-STS policy"
	e.Cause = fmt.Sprintf("The MTA-STS policy of %s (enforce mode) lists mx: patterns, and none of the domain's MX hosts matches them, or none of them presented a valid certificate for its name; the sender refuses them all.", domain)
	e.Evidence = []string{
		fmt.Sprintf("The MX records: dig MX %s; the policy's mx: lines: curl https://mta-sts.%s/.well-known/mta-sts.txt.", domain, domain),
		"Each MX's certificate: mailflow probe <mx>:25 --policy DomainValidation --expect <mx>.",
		c.stsProbeEvidence(),
	}
	e.Fix = []string{
		fmt.Sprintf("Make the policy of %s list every MX host (mx: lines; a leading *. matches one label), or point the MX records at hosts the policy lists; then change the id in the _mta-sts TXT record so senders fetch the policy again.", domain),
		"Give each MX a publicly trusted certificate holding its own name.",
		fmt.Sprintf("Check the result with mailflow probe --mx %s: it shows the policy's id, mode and mx patterns, judges every MX by them and names the mx line to add.", domain),
	}
	e.SeeAlso = append(c.stsSeeAlso(), "mailflow probe <mx>:25 --policy DomainValidation --expect <mx>")
}
