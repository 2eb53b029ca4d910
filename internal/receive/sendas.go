package receive

import (
	"bytes"
	"net/mail"
	"strings"

	"github.com/mailflowhq/mailflow/internal/smtp"
)

// replySendAsDenied is Exchange's refusal of a sender the authenticated
// user does not own.
var replySendAsDenied = smtp.Reply{Code: 550, Enhanced: "5.7.60", Lines: []string{"SMTP; Client does not have permissions to send as this sender"}}

// fromAllowed checks every address of the From: header against the
// authenticated user's SendAs list and returns the first one refused. A
// From: that is missing, repeated or cannot be parsed is refused when the
// user has a SendAs list: what cannot be read cannot be checked.
func (s *session) fromAllowed(msg []byte) (string, bool) {
	if len(s.user.SendAs) == 0 {
		return "", true
	}
	froms := headerValues(msg, "From")
	if len(froms) != 1 {
		return "(no single From: header)", false
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil || len(list) == 0 {
		return "(unreadable From: header)", false
	}
	for _, a := range list {
		if !s.user.MaySendAs(a.Address) {
			return a.Address, false
		}
	}
	return "", true
}

// headerValues returns the unfolded values of every header field called
// name in the header section of msg.
func headerValues(msg []byte, name string) []string {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(msg[:end]), "\r\n") {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if in {
				out[len(out)-1] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		in = ok && strings.EqualFold(strings.TrimSpace(k), name)
		if in {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
