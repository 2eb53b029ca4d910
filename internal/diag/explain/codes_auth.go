package explain

// Entries for client submission (SMTP AUTH on a Client Frontend-style
// connector): failed logins, lock-outs, SendAs and the per-user message
// rate. The table itself is in codes.go.

import "strings"

const authFail2ban = "grep 'SMTP AUTH failed' in mailflow's log (fail2ban: failregex = msg=\"SMTP AUTH failed\" remote_ip=<HOST> )"

func buildAuthFailed(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + " Authentication unsuccessful: the user name or password was not accepted"
	e.Cause = "The client (a scanner, an application, a mail client) sent SMTP AUTH with a user name and password the server does not accept: a wrong or changed password, " +
		"a user that does not exist (mailflow: not in mailflow user list), or a PLAIN authorization identity that differs from the user name. Devices often keep an old " +
		"password after it was changed. Repeated failures slow the answers down and lock the address out (454 4.7.0)."
	e.Evidence = []string{
		"The SmtpReceive protocol log session: '<,AUTH PLAIN' or '<,AUTH LOGIN', then '*,,Inbound AUTH … failed because of LogonDenied' (" + explainRecvLogs + "). Passwords are never logged.",
		authFail2ban + ": the address and user name of each failure.",
		"mailflow user list --config <file>: the user exists and its SendAs addresses.",
	}
	e.Fix = []string{
		"Set the password again on both sides: mailflow user passwd <user> --password-file <file> --config <file>, then the same password in the device's SMTP settings.",
		"Use an empty authorization identity (or the user name) in AUTH PLAIN.",
		"Test with swaks: swaks --server <host>:587 --tls --auth LOGIN --auth-user <user> --auth-password '<password>' --from <address> --to <address>.",
	}
	e.SeeAlso = []string{"mailflow user list --config <file>"}
}

func buildAuthLockedOut(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + " Temporary authentication failure: too many failed logins, the address or user is locked out for a while"
	e.Cause = "The server counts failed AUTH attempts per client address and per user. After limits.auth_failures_per_ip failures from one address (or " +
		"limits.auth_failures_per_user failures of one user from addresses it never logged in from) within limits.auth_failure_window, AUTH is refused without checking " +
		"the password for limits.auth_lockout. A device with a stale password, or someone guessing passwords, causes it."
	e.Evidence = []string{
		authFail2ban + ", and the 'SMTP AUTH lock-out' warnings naming the address or the user.",
		"The SmtpReceive protocol log: '*,,Inbound AUTH … refused: client address locked out …' (" + explainRecvLogs + ").",
	}
	e.Fix = []string{
		"Fix the password on the device (mailflow user passwd <user> --password-file <file>), then wait limits.auth_lockout (default 15 minutes); a user stays usable from addresses it logged in from before.",
		"If the failures come from an address you do not know, block it (fail2ban with the filter in the README).",
	}
}

func buildSendAsDenied(c explainCtx, e *Explanation) {
	e.Title = "550 5.7.60 Client does not have permissions to send as this sender"
	e.Cause = "The client authenticated as a user, then used a sender address (MAIL FROM, or an address in the From: header) that the user may not send as: " +
		"it is not in the user's SendAs list (mailflow user add … --send-as ADDR; *@domain allows a whole domain)."
	e.Evidence = []string{
		"The SmtpReceive protocol log: '*,,User <user> may not send as <address> (SendAs)' (" + explainRecvLogs + ").",
		"mailflow user list --config <file>: the SendAs column.",
	}
	e.Fix = []string{
		"Configure the device to send from an address it owns, or remove the user and add it again with the address: mailflow user add <user> --password-file <file> --send-as <address> --config <file>.",
	}
	e.SeeAlso = []string{"mailflow user list --config <file>"}
}

func buildUserRateLimit(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + " Message rate limit exceeded: the authenticated user sent too many messages in the last minute"
	e.Cause = "Each authenticated user may submit limits.user_message_rate messages per minute (default 30, Exchange Online's rate). The refusal is temporary: the client retries later."
	e.Evidence = []string{"mailflow's log: 'message rate limit exceeded' with the user and address."}
	e.Fix = []string{
		"If the sender is legitimate (a scanner batch, a report run), raise limits.user_message_rate in the configuration; otherwise find out why the account sends so much — it may be compromised.",
	}
}

func buildAuthNeedsEncryption(c explainCtx, e *Explanation) {
	e.Title = "538 5.7.11 Encryption required for requested authentication mechanism: AUTH needs TLS and this connector cannot offer it"
	e.Cause = "The connector allows AUTH only after STARTTLS (BasicAuthRequireTLS), but it has no certificate for its name, so STARTTLS is not offered and nobody can authenticate."
	e.Evidence = []string{"mailflow connector validate --config <file>: the certificate selection for the connector.", "mailflow cert list --config <file>."}
	e.Fix = []string{
		"Add a certificate holding the connector's fqdn (mailflow cert import <file> --config <file>), or pin one with tls_certificate_name.",
	}
}
