package smtp

import (
	"encoding/base64"
	"fmt"

	"github.com/emersion/go-sasl"
)

// Auth runs an RFC 4954 exchange with a SASL client mechanism (go-sasl's
// PLAIN or LOGIN client). OnSend sees "AUTH <mechanism>" and
// "<authentication response>" only: a transcript or protocol log never
// holds the credentials. It returns the final reply; a reply other than
// 235 is a *ReplyError.
func (c *Client) Auth(a sasl.Client) (Reply, error) {
	mech, ir, err := a.Start()
	if err != nil {
		return Reply{}, fmt.Errorf("smtp: AUTH %s: %w", mech, err)
	}
	line := "AUTH " + mech
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		line += " " + enc
	}
	r, err := c.secretLine("AUTH", line, "AUTH "+mech)
	for err == nil && r.Code == 334 {
		text := ""
		if len(r.Lines) > 0 {
			text = r.Lines[0]
		}
		challenge, derr := base64.StdEncoding.DecodeString(text)
		if derr != nil {
			c.secretLine("AUTH", "*", "*")
			return r, fmt.Errorf("smtp: AUTH %s: server challenge is not base64: %w", mech, derr)
		}
		resp, nerr := a.Next(challenge)
		if nerr != nil {
			c.secretLine("AUTH", "*", "*")
			return r, fmt.Errorf("smtp: AUTH %s: %w", mech, nerr)
		}
		r, err = c.secretLine("AUTH", base64.StdEncoding.EncodeToString(resp), "<authentication response>")
	}
	if err != nil {
		return r, err
	}
	if r.Code != 235 {
		return r, &ReplyError{Reply: r, Command: "AUTH"}
	}
	return r, nil
}

// secretLine sends line, telling OnSend only shown.
func (c *Client) secretLine(verb, line, shown string) (Reply, error) {
	if c.opts.OnSend != nil {
		c.opts.OnSend(shown)
	}
	c.bw.WriteString(line)
	if _, err := c.bw.WriteString("\r\n"); err != nil {
		return Reply{}, fmt.Errorf("smtp: send %s: %w", verb, err)
	}
	if err := c.flush(verb); err != nil {
		return Reply{}, err
	}
	return c.readReply(verb)
}
