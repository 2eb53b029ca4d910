package hybrid

import (
	"strings"
)

// Cmdlet is one PowerShell command of a plan.
type Cmdlet struct {
	Name    string  `json:"cmdlet"`
	Params  []Param `json:"parameters"`
	Comment string  `json:"comment,omitempty"` // a line of explanation printed above it
	Shell   string  `json:"shell"`             // "Exchange Management Shell" or "Exchange Online PowerShell"
}

// Param is one parameter; Value is written as PowerShell source (already
// quoted), "" for a switch.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Shells.
const (
	ShellOnPrem = "Exchange Management Shell"
	ShellOnline = "Exchange Online PowerShell"
)

// String is the command as PowerShell reads it, on one line.
func (c Cmdlet) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	for _, p := range c.Params {
		b.WriteString(" -")
		b.WriteString(p.Name)
		if p.Value != "" {
			b.WriteString(" ")
			b.WriteString(p.Value)
		}
	}
	return b.String()
}

// Script renders commands as a PowerShell script, comments first.
func Script(header string, cs []Cmdlet) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString("# " + l + "\n")
	}
	for _, c := range cs {
		b.WriteString("\n")
		if c.Comment != "" {
			for _, l := range strings.Split(c.Comment, "\n") {
				b.WriteString("# " + l + "\n")
			}
		}
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

// psString quotes a PowerShell string literal: single quotes, embedded
// single quotes doubled, so nothing ($, `) is expanded.
func psString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// psList writes a comma-separated list of string literals.
func psList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = psString(s)
	}
	return strings.Join(q, ",")
}

// psBool is $true or $false.
func psBool(b bool) string {
	if b {
		return "$true"
	}
	return "$false"
}

func param(name, value string) Param { return Param{Name: name, Value: value} }
