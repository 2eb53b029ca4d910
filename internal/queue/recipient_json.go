package queue

import (
	"encoding/json"

	"github.com/mailflowhq/mailflow/internal/lasterror"
)

// A Recipient is stored, and served by the admin API, as JSON with its last
// failure in two forms: "failure", the fields, which is what is read back;
// and "last_error", the text as shown, which is what a queue written by an
// older mailflow holds (and what an older mailflow reads). A record without
// "failure" loads its "last_error" text with lasterror.FromText.
type recipientJSON struct {
	recipientFields
	LastError string            `json:"last_error,omitempty"`
	Failure   *lasterror.Record `json:"failure,omitempty"`
}

// recipientFields is Recipient without its JSON methods.
type recipientFields Recipient

// MarshalJSON writes the recipient with its failure as fields and as text.
func (r Recipient) MarshalJSON() ([]byte, error) {
	return json.Marshal(recipientJSON{recipientFields: recipientFields(r), LastError: r.LastError.String(), Failure: r.LastError})
}

// UnmarshalJSON reads the fields, or the text an older mailflow stored.
func (r *Recipient) UnmarshalJSON(b []byte) error {
	var j recipientJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Recipient(j.recipientFields)
	r.LastError = j.Failure
	if r.LastError == nil {
		r.LastError = lasterror.FromText(j.LastError)
	}
	return nil
}
