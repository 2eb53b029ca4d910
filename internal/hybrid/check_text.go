package hybrid

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as one table: direction, expectation, what
// is presented, verdict, fix; then a one-line summary.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTION\tEXPECTATION\tPRESENTED\tVERDICT\tFIX")
	fails, errs := 0, 0
	for _, row := range r.Rows {
		v := strings.ToUpper(row.Verdict)
		if row.Live {
			v += " (live)"
		}
		switch row.Verdict {
		case Fail:
			fails++
		case Error:
			errs++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Direction, row.Expectation, row.Presented, v, orDefault(row.Fix, "-"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case fails > 0:
		_, err := fmt.Fprintf(w, "\n%d of %d checks failed: the two sides are not consistent.\n", fails, len(r.Rows))
		return err
	case errs > 0:
		_, err := fmt.Fprintf(w, "\n%d of %d checks could not be made.\n", errs, len(r.Rows))
		return err
	}
	_, err := fmt.Fprintf(w, "\nAll %d checks passed: each expectation on one side matches what the other presents.\n", len(r.Rows))
	return err
}
