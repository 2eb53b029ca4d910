package tlsrpt

import "time"

// Policy types (RFC 8460 §4.4).
const (
	PolicySTS      = "sts"
	PolicyTLSA     = "tlsa"
	PolicyNotFound = "no-policy-found"
)

// Result types (RFC 8460 §4.3).
const (
	ResultSTARTTLSNotSupported  = "starttls-not-supported"
	ResultCertificateMismatch   = "certificate-host-mismatch"
	ResultCertificateExpired    = "certificate-expired"
	ResultCertificateNotTrusted = "certificate-not-trusted"
	ResultValidationFailure     = "validation-failure"
	ResultTLSAInvalid           = "tlsa-invalid"
	ResultDNSSECInvalid         = "dnssec-invalid"
	ResultDANERequired          = "dane-required"
	ResultSTSPolicyFetchError   = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid      = "sts-policy-invalid"
	ResultSTSWebPKIInvalid      = "sts-webpki-invalid"
)

// Outcome is one session (or one attempt to obtain a policy) under a
// policy, as the sender saw it.
type Outcome struct {
	Time         time.Time
	PolicyDomain string
	PolicyType   string   // PolicySTS, PolicyTLSA, PolicyNotFound
	PolicyString []string // the policy's lines / the TLSA records
	MXHost       []string // the policy's mx patterns (sts)
	// ResultType is "" for a successful session, else a Result* constant.
	ResultType          string
	SendingMTAIP        string
	ReceivingMXHostname string
	ReceivingIP         string
	AdditionalInfo      string
	FailureReasonCode   string
}

// Observer receives outcomes; *Store implements it.
type Observer interface {
	Record(Outcome)
}
