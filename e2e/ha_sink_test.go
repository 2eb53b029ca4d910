package e2e

import (
	"bufio"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// haSink is the slow receiver behind both nodes: a minimal SMTP server that
// waits delay before answering each message (so deliveries are in flight
// when a node is killed), records every accepted copy by its X-HA-Token and
// by the EHLO name of the node that sent it, and can hold the first copy of
// a chosen token until released, then refuse it.
type haSink struct {
	addr  string
	delay time.Duration

	mu       sync.Mutex
	copies   map[string]int // token → copies accepted
	byNode   map[string]int // EHLO name → copies accepted
	bounces  int            // null-sender messages (DSNs)
	holdTok  string         // token whose first copy is held
	heldBy   chan string    // receives the EHLO name of the held session
	release  chan struct{}  // closed to answer the held copy
	seenHold bool
}

var haTokenRe = regexp.MustCompile(`X-HA-Token: (\S+)`)

func startHASink(t *testing.T, delay time.Duration) *haSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &haSink{addr: ln.Addr().String(), delay: delay, copies: map[string]int{}, byNode: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// hold makes the sink hold the first copy of token; the returned channel
// names the node holding it.
func (s *haSink) hold(token string) (heldBy <-chan string, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdTok, s.heldBy, s.release = token, make(chan string, 1), make(chan struct{})
	return s.heldBy, s.release
}

func (s *haSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(line string) bool {
		w.WriteString(line + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 sink.fabrikam.com ESMTP") {
		return
	}
	helo, from := "", ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			helo = strings.ToLower(strings.TrimSpace(line[4:]))
			reply("250-sink.fabrikam.com\r\n250-PIPELINING\r\n250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from = strings.TrimSpace(line[10:])
			reply("250 2.1.0 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			reply("250 2.1.5 OK")
		case cmd == "DATA":
			reply("354 go ahead")
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				body.WriteString(l)
			}
			if !s.accept(helo, from, body.String()) {
				reply("550 5.7.1 refused by the test sink after holding it")
				continue
			}
			if !reply("250 2.6.0 accepted") {
				return
			}
		case cmd == "RSET", cmd == "NOOP":
			reply("250 2.0.0 OK")
		case cmd == "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unrecognised")
		}
	}
}

// accept records one copy after the sink's delay; false refuses it (the
// held copy, once released).
func (s *haSink) accept(helo, from, body string) bool {
	tok := ""
	if m := haTokenRe.FindStringSubmatch(body); m != nil {
		tok = m[1]
	}
	s.mu.Lock()
	held := tok != "" && tok == s.holdTok && !s.seenHold
	if held {
		s.seenHold = true
	}
	heldBy, release := s.heldBy, s.release
	s.mu.Unlock()
	if held {
		heldBy <- helo
		<-release
		return false
	}
	time.Sleep(s.delay) // the receiver is slow; this is its service time
	s.mu.Lock()
	defer s.mu.Unlock()
	if from == "<>" {
		s.bounces++
		return true
	}
	if tok != "" {
		s.copies[tok]++
		s.byNode[helo]++
	}
	return true
}

func (s *haSink) snapshot() (copies map[string]int, byNode map[string]int, bounces int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	copies, byNode = map[string]int{}, map[string]int{}
	for k, v := range s.copies {
		copies[k] = v
	}
	for k, v := range s.byNode {
		byNode[k] = v
	}
	return copies, byNode, s.bounces
}
