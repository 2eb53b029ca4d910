package testpeer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// MaildirDelivery returns main.cf settings that make the instance the final
// destination for the given addresses: Postfix's virtual(8) agent delivers
// each to the maildir <dir>/<domain>/<local>/ as the postfix user, so a test
// reads what arrived with MaildirMessages — proof of delivery by Postfix
// itself rather than a message held in its queue. Other recipients in those
// domains are refused at RCPT (550 5.1.1). It also clears StartPostfix's
// default relay_domains (a domain cannot be both relayed and final). Pass
// the result (merged with other settings) to StartPostfix.
func MaildirDelivery(t testing.TB, dir string, addrs ...string) map[string]string {
	t.Helper()
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Skipf("no postfix user (is the postfix package installed?): %v", err)
	}
	// virtual(8) runs as the postfix user and must reach and write dir.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	Run(t, "chown", u.Uid+":"+u.Gid, dir)
	// One maildir per address (the trailing slash selects maildir format).
	// A texthash table, not regexp: Postfix refuses $1 substitutions in
	// virtual_mailbox_maps, since they would let a sender pick a path.
	var table strings.Builder
	var domains []string
	for _, a := range addrs {
		local, domain, err := splitAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&table, "%s@%s %s/%s/\n", local, domain, domain, local)
		if !slices.Contains(domains, domain) {
			domains = append(domains, domain)
		}
	}
	maps := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".vmaps")
	if err := os.WriteFile(maps, []byte(table.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"relay_domains":           "",
		"virtual_mailbox_domains": strings.Join(domains, ","),
		"virtual_mailbox_base":    dir,
		"virtual_mailbox_maps":    "texthash:" + maps,
		"virtual_uid_maps":        "static:" + u.Uid,
		"virtual_gid_maps":        "static:" + u.Gid,
		"virtual_minimum_uid":     u.Uid,
	}
}

// splitAddr lower-cases a plain address and splits it; anything that could
// leave the maildir tree is refused.
func splitAddr(addr string) (local, domain string, err error) {
	local, domain, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(addr, "/\\ \t") || local[0] == '.' || domain[0] == '.' {
		return "", "", fmt.Errorf("testpeer: %q is not a plain address", addr)
	}
	return local, domain, nil
}

// MaildirMessages lists the files Postfix delivered to addr's maildir under
// dir (see MaildirDelivery), new/ then cur/, sorted by name. A maildir that
// does not exist yet is empty, not an error.
func MaildirMessages(dir, addr string) ([]string, error) {
	local, domain, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sub := range []string{"new", "cur"} {
		d := filepath.Join(dir, domain, local, sub)
		entries, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("maildir of %s: %w", addr, err)
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out, nil
}

// Reconfigure changes main.cf settings of the running instance and reloads
// it (postconf -e, postfix reload), as an administrator fixing a server
// would. New smtpd processes use the new settings; an smtpd that is busy
// with a session finishes it first, so a test that needs the change in
// effect should observe it (e.g. the certificate presented) before relying
// on it.
func (p *Postfix) Reconfigure(t testing.TB, settings map[string]string) {
	t.Helper()
	args := []string{"-c", p.Dir, "-e"}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, k+"="+settings[k])
	}
	Run(t, "postconf", args...)
	if out, err := exec.Command("postfix", "-c", p.Dir, "reload").CombinedOutput(); err != nil {
		t.Fatalf("postfix reload: %v\n%s\nmaillog:\n%s", err, out, p.Maillog())
	}
}
