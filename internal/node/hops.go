package node

import (
	"context"
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
	suspended := s.currentSuspended(context.Background())
	byName := map[string]*Hop{}
	get := func(name string) *Hop {
		h := byName[strings.ToLower(name)]
		if h == nil {
			h = &Hop{Name: name, ByState: map[queue.State]int{}, Suspended: suspended.has(name)}
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
	for _, name := range sortedHops(suspended) {
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

// Suspensions are kept with the queue (queue.HopStateStore), so they
// follow it: a restart or a crash does not resume a hop an administrator
// suspended. The node holds a view of them (hopSet) that Suspended reads.
//
// With the embedded store this node is the only writer, so the view is
// exact. With the PostgreSQL store every node of the cluster shares the
// table and any of them may suspend or resume; a view refreshed on a poll
// could deliver to a hop for up to one poll after another node suspended
// it. Instead each delivery attempt, and each listing (Hops: queue hops,
// the Queues page, the metrics), reads the table once — one small query
// next to the claim, lease and settle queries a delivery makes anyway —
// so "suspended" means suspended on every node as soon as Suspend returns.
// Only when that read fails does the last view answer (the database was
// reachable for the claim a moment before; the settle will wait for it).

// hopSet is the set of suspended next hops: lower-case name → name as
// given. It is never changed once published.
type hopSet map[string]string

// newHopSet is the set of the stored names.
func newHopSet(hops []string) hopSet {
	set := make(hopSet, len(hops))
	for _, h := range hops {
		set[strings.ToLower(h)] = h
	}
	return set
}

func (h hopSet) has(hop string) bool {
	_, ok := h[strings.ToLower(hop)]
	return ok
}

// hopStoreTimeout bounds one read or write of the suspended next hops.
const hopStoreTimeout = 30 * time.Second

// loadSuspended reads the suspended next hops kept with the queue, at
// start, before any delivery, and logs each so the administrator sees that
// delivery to it is still held.
func (s *Node) loadSuspended(store queue.Store, where string) error {
	empty := hopSet{}
	s.suspended.Store(&empty)
	hs, ok := store.(queue.HopStateStore)
	if !ok {
		return nil
	}
	_, shared := store.(queue.SharedStore)
	s.hopStore, s.hopShared = hs, shared
	ctx, cancel := context.WithTimeout(context.Background(), hopStoreTimeout)
	defer cancel()
	hops, err := hs.SuspendedHops(ctx)
	if err != nil {
		return fmt.Errorf("read the suspended next hops in %s: %w", where, err)
	}
	set := newHopSet(hops)
	s.suspended.Store(&set)
	for _, h := range hops {
		s.log.Warn("next hop suspended (from store): its messages wait until mailflow queue resume", "hop", h)
	}
	return nil
}

// view is the node's last view of the suspended next hops.
func (s *Node) view() hopSet {
	if p := s.suspended.Load(); p != nil {
		return *p
	}
	return nil
}

// currentSuspended is the set a decision uses: with a shared store, read
// from the database now (see above); otherwise the node's view.
func (s *Node) currentSuspended(ctx context.Context) hopSet {
	if !s.hopShared {
		return s.view()
	}
	ctx, cancel := context.WithTimeout(ctx, hopStoreTimeout)
	defer cancel()
	hops, err := s.hopStore.SuspendedHops(ctx)
	if err != nil {
		// The store logs an outage once; the last view holds meanwhile.
		s.log.Debug("suspended next hops unread; using the last known", "err", err)
		return s.view()
	}
	set := newHopSet(hops)
	s.suspended.Store(&set)
	return set
}

// changeView publishes the view with hop added (name) or removed (""),
// under hopMu.
func (s *Node) changeView(hop, name string) {
	old := s.view()
	set := make(hopSet, len(old)+1)
	for k, v := range old {
		set[k] = v
	}
	if name == "" {
		delete(set, strings.ToLower(hop))
	} else {
		set[strings.ToLower(hop)] = name
	}
	s.suspended.Store(&set)
}

// Suspend holds delivery to a next hop: its recipients are deferred with
// "451 4.4.0 next hop suspended" until Resume, as Exchange's
// Suspend-Queue does. The suspension is stored with the queue before
// Suspend returns, so it outlasts a restart and, with a shared queue,
// holds on every node; when it cannot be stored, nothing changes and the
// error (queue.ErrStorage) says why.
func (s *Node) Suspend(hop string) error {
	if strings.TrimSpace(hop) == "" {
		return fmt.Errorf("suspend: name a next hop (a send connector, %s or %s)", HopLocal, HopUnroutable)
	}
	s.hopMu.Lock()
	defer s.hopMu.Unlock()
	if s.hopStore != nil {
		ctx, cancel := context.WithTimeout(context.Background(), hopStoreTimeout)
		defer cancel()
		if err := s.hopStore.SuspendHop(ctx, hop); err != nil {
			return fmt.Errorf("suspend next hop %s: %w: %w (nothing changed; try again)", hop, queue.ErrStorage, err)
		}
	}
	s.changeView(hop, hop)
	s.log.Info("next hop suspended", "hop", hop)
	return nil
}

// Resume lifts a suspension (made on any node sharing the queue), stored
// before it returns, and retries the hop's recipients at once.
func (s *Node) Resume(hop string) error {
	s.hopMu.Lock()
	found := s.view().has(hop)
	if s.hopStore != nil {
		ctx, cancel := context.WithTimeout(context.Background(), hopStoreTimeout)
		var err error
		found, err = s.hopStore.ResumeHop(ctx, hop)
		cancel()
		if err != nil {
			s.hopMu.Unlock()
			return fmt.Errorf("resume next hop %s: %w: %w (it stays suspended; try again)", hop, queue.ErrStorage, err)
		}
	}
	s.changeView(hop, "")
	s.hopMu.Unlock()
	if !found {
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

// Suspended reports whether delivery to hop is suspended, in the node's
// last view (with a shared queue, as of the last delivery or listing).
func (s *Node) Suspended(hop string) bool {
	return s.view().has(hop)
}

// SuspendedHops lists the suspended next hops, sorted, in the node's last
// view (see Suspended).
func (s *Node) SuspendedHops() []string {
	return sortedHops(s.view())
}

func sortedHops(set hopSet) []string {
	out := make([]string, 0, len(set))
	for _, v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// suspendedText is what a recipient of a suspended hop records (after
// 451 4.4.0).
const suspendedText = "Next hop suspended by an administrator; resume it to deliver"
