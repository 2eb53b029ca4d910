package queue

import "time"

// Stats summarises the queue: with a shared store, the whole cluster's.
type Stats struct {
	// Node is the node that answered ("" with the embedded store).
	Node       string        `json:"node,omitempty"`
	Backend    string        `json:"backend"`
	Messages   int           `json:"messages"`
	Recipients map[State]int `json:"recipients"`
	// Leases counts messages being delivered, by the node holding them
	// (expired leases are counted under "expired").
	Leases map[string]int `json:"leases,omitempty"`
	Oldest time.Time      `json:"oldest,omitzero"`
}

// Stats counts the queued messages, recipients by state and leases by node.
func (q *Queue) Stats() Stats {
	st := Stats{Backend: "bbolt", Recipients: map[State]int{}}
	if q.shared != nil {
		st.Node, st.Backend = q.shared.Node(), "postgres"
	}
	now := q.clock.Now()
	for _, m := range q.List() {
		st.Messages++
		if st.Oldest.IsZero() || m.Created.Before(st.Oldest) {
			st.Oldest = m.Created
		}
		for _, r := range m.Recipients {
			st.Recipients[r.State]++
		}
		if h := m.Lease.Holder; h != "" {
			if st.Leases == nil {
				st.Leases = map[string]int{}
			}
			if !m.Lease.Expires.After(now) {
				h = "expired"
			}
			st.Leases[h]++
		}
	}
	return st
}
