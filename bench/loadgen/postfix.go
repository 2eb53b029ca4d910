package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// postfixInstance is a private Postfix (recipe in
// /work/shared/reference/peers.md and internal/send/postfix_test.go):
// its own configuration, queue and log under dir, smtpd on 127.0.0.1:port.
type postfixInstance struct {
	dir  string
	etc  string
	port int
}

type postfixParams struct {
	Dir               string
	SinkPort          int
	TLS               bool
	KeyFile, CertFile string
}

// postfixMissing says why Postfix parts cannot run, or "" when they can.
func postfixMissing() string {
	for _, tool := range []string{"postfix", "postconf", "smtp-source", "smtp-sink"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not installed (Debian/Ubuntu: apt-get install postfix; it brings smtp-source and smtp-sink)"
		}
	}
	if _, err := os.Stat("/etc/postfix/master.cf"); err != nil {
		return "postfix is installed but /etc/postfix/master.cf is missing"
	}
	if os.Geteuid() != 0 {
		return "a private Postfix instance needs root (postfix start); run bench/run as root"
	}
	return ""
}

// startPostfix writes main.cf from configs/postfix-main.cf.tmpl and a
// master.cf whose smtpd listens on a free loopback port, and starts it.
func startPostfix(ctx context.Context, configs, dir string, p postfixParams) (*postfixInstance, error) {
	p.Dir = dir
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{etc, filepath.Join(dir, "data"), filepath.Join(dir, "spool")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("postfix instance: %w", err)
		}
	}
	// The postfix user must reach its queue and data below our directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("postfix instance: %w", err)
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown postfix %s: %v: %s", filepath.Join(dir, "data"), err, out)
	}
	main, err := renderTemplate(filepath.Join(configs, "postfix-main.cf.tmpl"), p)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(etc, "main.cf"), main, 0o644); err != nil {
		return nil, fmt.Errorf("postfix main.cf: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		return nil, fmt.Errorf("postfix master.cf: %w", err)
	}
	smtpLine := regexp.MustCompile(`(?m)^smtp\s+inet\s.*$`)
	if !smtpLine.Match(master) {
		return nil, fmt.Errorf("/etc/postfix/master.cf has no \"smtp inet\" line to replace")
	}
	// Our port instead of 25, chroot off (the instance directory is not a
	// prepared chroot).
	master = smtpLine.ReplaceAll(master, []byte("127.0.0.1:"+strconv.Itoa(port)+" inet n - n - - smtpd"))
	if err := os.WriteFile(filepath.Join(etc, "master.cf"), master, 0o644); err != nil {
		return nil, fmt.Errorf("postfix master.cf: %w", err)
	}
	inst := &postfixInstance{dir: dir, etc: etc, port: port}
	if out, err := exec.CommandContext(ctx, "postfix", "-c", etc, "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix start: %v: %s%s", err, out, inst.maillogTail())
	}
	if err := waitPort(ctx, inst.addr(), 30*time.Second); err != nil {
		inst.stop()
		return nil, fmt.Errorf("postfix: %w%s", err, inst.maillogTail())
	}
	return inst, nil
}

func (p *postfixInstance) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// stop stops the instance and deletes whatever is left in its queue.
func (p *postfixInstance) stop() {
	exec.Command("postsuper", "-c", p.etc, "-d", "ALL").Run()
	exec.Command("postfix", "-c", p.etc, "stop").Run()
}

func (p *postfixInstance) maillogTail() string {
	b, err := os.ReadFile(filepath.Join(p.dir, "maillog"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nmaillog ends:\n" + string(b)
}

// postfixVersion asks the instance's postconf for mail_version.
func postfixVersion(etc string) string {
	out, err := exec.Command("postconf", "-c", etc, "-h", "mail_version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// renderTemplate fills a bench/configs template.
func renderTemplate(path string, data any) ([]byte, error) {
	t, err := template.ParseFiles(path)
	if err != nil {
		return nil, fmt.Errorf("config template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("config template %s: %w", path, err)
	}
	return b.Bytes(), nil
}
