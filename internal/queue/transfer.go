package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The export file is a stream of JSON records, one per line, of two kinds:
//
//	{"suspended_hop":"To Partner"}                  a next hop suspended in the source store
//	{"message":{…},"body":"<base64>"}               a message with its body
//
// Suspended hops come first, so that an import restores them before any
// message they hold, and so that a mailflow from before suspended hops were
// exported (whose reader knows only message records) refuses such a file at
// its first line ("item 1 has no message") before it imports anything —
// rather than silently delivering to a hop the administrator held. A queue
// without suspended hops exports exactly the older format, which every
// version reads. A record that is neither kind (a future one) is refused
// the same way, never skipped.

// transferItem is one record of an export: a message (the stored record's
// JSON and the body, base64 in JSON) or a suspended next hop.
type transferItem struct {
	SuspendedHop string   `json:"suspended_hop,omitempty"`
	Message      *Message `json:"message,omitempty"`
	Body         []byte   `json:"body,omitempty"`
}

// TransferCounts is what an Export wrote or an Import did.
type TransferCounts struct {
	// Messages exported, or added by the import.
	Messages int
	// Skipped counts, in an import, the messages the target already held.
	Skipped int
	// SuspendedHops are the suspended next hops exported, or (import) those
	// of the file, now suspended in the target.
	SuspendedHops []string
}

// ErrHopsNotKept is returned by Import when the file holds suspended next
// hops and the target store cannot keep them (it is no HopStateStore).
var ErrHopsNotKept = errors.New("the target queue store cannot keep suspended next hops")

// Export writes the suspended next hops of s (when s is a HopStateStore)
// and every message of s, with its body, to w as JSON lines, for Import
// into another store (bbolt to PostgreSQL and back). Stop the servers using
// s first, so that nothing changes during the copy.
func Export(ctx context.Context, s Store, w io.Writer) (TransferCounts, error) {
	var c TransferCounts
	var hops []string
	if hs, ok := s.(HopStateStore); ok {
		var err error
		if hops, err = hs.SuspendedHops(ctx); err != nil {
			return c, fmt.Errorf("export: %w", err)
		}
	}
	msgs, bad, err := s.Load(ctx)
	if err != nil {
		return c, fmt.Errorf("export: %w", err)
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("export: %d damaged record(s) were set aside (first: %s: %s); export again to copy the rest", len(bad), bad[0].Key, bad[0].Reason)
	}
	enc := json.NewEncoder(w)
	for _, h := range hops {
		if err := enc.Encode(transferItem{SuspendedHop: h}); err != nil {
			return c, fmt.Errorf("export suspended next hop %s: %w", h, err)
		}
		c.SuspendedHops = append(c.SuspendedHops, h)
	}
	for _, m := range msgs {
		rc, err := s.Body(ctx, m.ID)
		if err != nil {
			return c, fmt.Errorf("export %s: %w", m.ID, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return c, fmt.Errorf("export body of %s: %w", m.ID, err)
		}
		m.Lease = Lease{}
		if err := enc.Encode(transferItem{Message: m, Body: body}); err != nil {
			return c, fmt.Errorf("export %s: %w", m.ID, err)
		}
		c.Messages++
	}
	return c, nil
}

// Import adds what an Export wrote to s. Messages keep their ids and
// recipient states; a message whose id s already holds is skipped, so an
// import that is repeated (after an interruption, say) duplicates nothing.
// Suspended next hops are added to those s already has: an import never
// resumes a hop. Each message and suspension is durable in s when counted.
//
// When the file holds a suspended hop and s is no HopStateStore, Import
// stops there with ErrHopsNotKept (an Export writes them first, so then
// nothing was imported). Files of older versions, which hold only
// messages, import as before.
func Import(ctx context.Context, s Store, r io.Reader) (c TransferCounts, err error) {
	existing, _, err := s.Load(ctx)
	if err != nil {
		return c, fmt.Errorf("import: read the target queue: %w", err)
	}
	have := make(map[string]bool, len(existing))
	for _, m := range existing {
		have[m.ID] = true
	}
	hs, keepsHops := s.(HopStateStore)
	dec := json.NewDecoder(r)
	for n := 1; ; n++ {
		var it transferItem
		err := dec.Decode(&it)
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return c, fmt.Errorf("import: item %d: %w", n, err)
		}
		switch {
		case it.SuspendedHop != "" && it.Message != nil:
			return c, fmt.Errorf("import: item %d is both a suspended next hop and a message", n)
		case it.SuspendedHop != "":
			hop := it.SuspendedHop
			if strings.TrimSpace(hop) == "" {
				return c, fmt.Errorf("import: item %d: %w", n, errEmptyHop)
			}
			if !keepsHops {
				return c, fmt.Errorf("import: item %d: next hop %q is suspended in the export, but %w; nothing after it was imported (use a store that keeps them, or resume the hop in the source and export again)", n, hop, ErrHopsNotKept)
			}
			if err := hs.SuspendHop(ctx, hop); err != nil {
				return c, fmt.Errorf("import: item %d: %w", n, err)
			}
			c.SuspendedHops = append(c.SuspendedHops, hop)
			continue
		case it.Message == nil:
			return c, fmt.Errorf("import: item %d is neither a message nor a suspended next hop (a file of a newer mailflow?)", n)
		}
		if err := it.Message.validate(); err != nil {
			return c, fmt.Errorf("import: item %d: %w", n, err)
		}
		if have[it.Message.ID] {
			c.Skipped++
			continue
		}
		it.Message.Lease = Lease{}
		if err := s.Put(ctx, it.Message, BytesBody(it.Body)); err != nil {
			return c, fmt.Errorf("import %s: %w", it.Message.ID, err)
		}
		have[it.Message.ID] = true
		c.Messages++
	}
}
