package tracking

import (
	"slices"
	"testing"
)

func TestStatusesRoundTrip(t *testing.T) {
	detail := "{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch]};{MSG=SubjectMismatch};{FQDN=mail.contoso.com};{IP=1.2.3.4};{LRT=11/1/2017 12:12:45 PM}"
	tests := []struct {
		name string
		in   []string
		file string
	}{
		{"none", nil, ""},
		{"plain pair", []string{"250 2.1.5 Recipient OK", "250 2.1.5 Recipient OK"}, "250 2.1.5 Recipient OK;250 2.1.5 Recipient OK"},
		{"send detail is wrapped", []string{detail}, "[" + detail + "]"},
		{"two details", []string{detail, "550 5.1.1 RESOLVER.ADR.RecipientNotFound; not found"},
			"[" + detail + "];[550 5.1.1 RESOLVER.ADR.RecipientNotFound; not found]"},
		{"already wrapped keeps its brackets", []string{"[{LRT=};{LED=x}]"}, "[[{LRT=};{LED=x}]]"},
		{"brackets that are not a wrapper", []string{"[a] and [b]"}, "[a] and [b]"},
		{"empty entries", []string{"", ""}, ";"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(joinStatuses(nil, tc.in))
			if got != tc.file {
				t.Fatalf("joinStatuses = %q, want %q", got, tc.file)
			}
			if back := splitStatuses(got); !slices.Equal(back, tc.in) {
				t.Fatalf("splitStatuses(%q) = %q, want %q", got, back, tc.in)
			}
		})
	}
}

func TestSplitStatusesExchangeForms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// Exchange's own DEFER form: the wrapper goes, the detail stays whole.
		{"[{LRT=};{LED=441 4.4.1 Error encountered};{FQDN=};{IP=}]", []string{"{LRT=};{LED=441 4.4.1 Error encountered};{FQDN=};{IP=}"}},
		// A status with an unclosed bracket swallows what follows rather than
		// panicking or inventing entries.
		{"450 [oops;250 OK", []string{"450 [oops;250 OK"}},
		{"250 OK]; 251 x", []string{"250 OK]", " 251 x"}},
	}
	for _, tc := range tests {
		if got := splitStatuses(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitStatuses(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFieldsCount(t *testing.T) {
	if len(Fields) != numFields {
		t.Fatalf("len(Fields) = %d, numFields = %d", len(Fields), numFields)
	}
}
