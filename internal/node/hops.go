package node

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/queue"
)

// HopLocal is the next hop of recipients in an accepted domain (the local
// mailbox store); HopUnroutable of recipients no connector serves.
const (
	HopLocal      = "Local"
	HopUnroutable = "Unroutable"
)

// NextHop names where the queue sends a recipient now: the send connector
// the router picks, HopLocal or HopUnroutable. The queue page, the metrics
// and suspension all group by this one answer.
func (s *Node) NextHop(rcpt string) string {
	dec, err := s.Runtime().Router.Route(domainOf(rcpt))
	switch {
	case err != nil:
		return HopUnroutable
	case dec.Local:
		return HopLocal
	}
	return dec.Connector
}

// QueuedRecipient is one pending recipient of a queued message.
type QueuedRecipient struct {
	Msg  *queue.Message
	Rcpt queue.Recipient
}

// Hop is the queue as seen from one next hop.
type Hop struct {
	Name      string
	Suspended bool
	// Pending recipients, oldest message first.
	Items []QueuedRecipient
	// ByState counts the pending recipients by state (Ready, Retry).
	ByState map[queue.State]int
	// Oldest is when the oldest message waiting for this hop was queued.
	Oldest time.Time
}

// Hops groups the pending recipients of the queue by next hop, sorted by
// name; suspended hops without messages are listed too.
func (s *Node) Hops() []Hop {
	byName := map[string]*Hop{}
	get := func(name string) *Hop {
		h := byName[strings.ToLower(name)]
		if h == nil {
			h = &Hop{Name: name, ByState: map[queue.State]int{}, Suspended: s.Suspended(name)}
			byName[strings.ToLower(name)] = h
		}
		return h
	}
	for _, m := range s.queue.List() {
		for _, r := range m.Recipients {
			if !r.State.Pending() {
				continue
			}
			h := get(s.NextHop(r.Addr))
			h.Items = append(h.Items, QueuedRecipient{Msg: &m, Rcpt: r})
			h.ByState[r.State]++
			if h.Oldest.IsZero() || m.Created.Before(h.Oldest) {
				h.Oldest = m.Created
			}
		}
	}
	for _, name := range s.SuspendedHops() {
		get(name)
	}
	out := make([]Hop, 0, len(byName))
	for _, h := range byName {
		sort.SliceStable(h.Items, func(i, j int) bool { return h.Items[i].Msg.ID < h.Items[j].Msg.ID })
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Suspend holds delivery to a next hop: its recipients are deferred with
// "451 4.4.0 next hop suspended" until Resume, as Exchange's
// Suspend-Queue does. The suspension is not persisted: a restart resumes.
func (s *Node) Suspend(hop string) error {
	if strings.TrimSpace(hop) == "" {
		return fmt.Errorf("suspend: name a next hop (a send connector, %s or %s)", HopLocal, HopUnroutable)
	}
	s.suspended.Store(strings.ToLower(hop), hop)
	s.log.Info("next hop suspended", "hop", hop)
	return nil
}

// Resume lifts a suspension and retries the hop's recipients at once.
func (s *Node) Resume(hop string) error {
	if _, ok := s.suspended.LoadAndDelete(strings.ToLower(hop)); !ok {
		return fmt.Errorf("resume: next hop %q is not suspended", hop)
	}
	s.log.Info("next hop resumed", "hop", hop)
	for _, h := range s.Hops() {
		if !strings.EqualFold(h.Name, hop) {
			continue
		}
		seen := map[string]bool{}
		for _, it := range h.Items {
			if !seen[it.Msg.ID] {
				seen[it.Msg.ID] = true
				s.queue.Retry(it.Msg.ID)
			}
		}
	}
	return nil
}

// Suspended reports whether delivery to hop is suspended.
func (s *Node) Suspended(hop string) bool {
	_, ok := s.suspended.Load(strings.ToLower(hop))
	return ok
}

// SuspendedHops lists the suspended next hops, sorted.
func (s *Node) SuspendedHops() []string {
	var out []string
	s.suspended.Range(func(_, v any) bool { out = append(out, v.(string)); return true })
	sort.Strings(out)
	return out
}

// suspendedText is what a recipient of a suspended hop records (after
// 451 4.4.0).
const suspendedText = "Next hop suspended by an administrator; resume it to deliver"
