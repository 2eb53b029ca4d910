package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// transferItem is one message in an export: the stored record's JSON and
// the body (base64 in JSON), one per line.
type transferItem struct {
	Message *Message `json:"message"`
	Body    []byte   `json:"body"`
}

// Export writes every message of s, with its body, to w as JSON lines, for
// Import into another store (bbolt to PostgreSQL and back). It returns how
// many messages it wrote. Stop the servers using s first, so that nothing
// changes during the copy.
func Export(ctx context.Context, s Store, w io.Writer) (int, error) {
	msgs, bad, err := s.Load(ctx)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("export: %d damaged record(s) were set aside (first: %s: %s); export again to copy the rest", len(bad), bad[0].Key, bad[0].Reason)
	}
	enc := json.NewEncoder(w)
	for i, m := range msgs {
		rc, err := s.Body(ctx, m.ID)
		if err != nil {
			return i, fmt.Errorf("export %s: %w", m.ID, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return i, fmt.Errorf("export body of %s: %w", m.ID, err)
		}
		m.Lease = Lease{}
		if err := enc.Encode(transferItem{Message: m, Body: body}); err != nil {
			return i, fmt.Errorf("export %s: %w", m.ID, err)
		}
	}
	return len(msgs), nil
}

// Import adds the messages of an Export to s, keeping their ids and
// recipient states. A message whose id s already holds is skipped, so an
// import that is repeated (after an interruption, say) duplicates nothing.
// Each message is durable in s when counted as added.
func Import(ctx context.Context, s Store, r io.Reader) (added, skipped int, err error) {
	existing, _, err := s.Load(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("import: read the target queue: %w", err)
	}
	have := make(map[string]bool, len(existing))
	for _, m := range existing {
		have[m.ID] = true
	}
	dec := json.NewDecoder(r)
	for n := 1; ; n++ {
		var it transferItem
		err := dec.Decode(&it)
		if errors.Is(err, io.EOF) {
			return added, skipped, nil
		}
		if err != nil {
			return added, skipped, fmt.Errorf("import: item %d: %w", n, err)
		}
		if it.Message == nil {
			return added, skipped, fmt.Errorf("import: item %d has no message", n)
		}
		if err := it.Message.validate(); err != nil {
			return added, skipped, fmt.Errorf("import: item %d: %w", n, err)
		}
		if have[it.Message.ID] {
			skipped++
			continue
		}
		it.Message.Lease = Lease{}
		if err := s.Put(ctx, it.Message, BytesBody(it.Body)); err != nil {
			return added, skipped, fmt.Errorf("import %s: %w", it.Message.ID, err)
		}
		have[it.Message.ID] = true
		added++
	}
}
