package hybrid

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/mailflowhq/mailflow/internal/netrange"
)

// Ranges is the list of addresses the tenant (Exchange Online) sends from,
// with where it came from.
type Ranges struct {
	Ranges []string `json:"ranges"`
	Source string   `json:"source"`
	Date   string   `json:"date"` // the list's date, YYYY-MM-DD
}

// ExchangeOnline is the built-in list: the addresses Exchange Online
// Protection uses for SMTP (TCP 25) to customer servers, as Microsoft
// publishes them in "Microsoft 365 URLs and IP address ranges", worldwide
// endpoints, Exchange Online ID 10 (*.mail.protection.outlook.com,
// required), endpoints version 2022072800 of 28 July 2022. The list changes
// rarely; override it with --tenant-ranges FILE when Microsoft publishes a
// newer one (https://endpoints.office.com/endpoints/worldwide, ServiceArea
// Exchange, TCP 25).
var ExchangeOnline = Ranges{
	Ranges: []string{
		"40.92.0.0/15",
		"40.107.0.0/16",
		"52.100.0.0/14",
		"104.47.0.0/17",
		"2a01:111:f400::/48",
		"2a01:111:f403::/48",
	},
	Source: "Microsoft 365 URLs and IP address ranges (learn.microsoft.com/microsoft-365/enterprise/urls-and-ip-address-ranges), worldwide, Exchange Online ID 10 *.mail.protection.outlook.com TCP 25, endpoints version 2022072800",
	Date:   "2022-07-28",
}

// LoadRanges reads a ranges file: one range per line (a single IP, a CIDR
// prefix or first-last), blank lines and # comments ignored. A comment line
// "# date: YYYY-MM-DD" sets the list's date.
func LoadRanges(path string) (Ranges, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Ranges{}, fmt.Errorf("read tenant ranges: %w", err)
	}
	return ParseRanges(path, data)
}

// ParseRanges is LoadRanges for bytes already read; name labels errors.
func ParseRanges(name string, data []byte) (Ranges, error) {
	r := Ranges{Source: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			if d, ok := strings.CutPrefix(strings.TrimSpace(rest), "date:"); ok {
				r.Date = strings.TrimSpace(d)
			}
			continue
		}
		if line == "" {
			continue
		}
		if _, err := netrange.Parse(line); err != nil {
			return Ranges{}, fmt.Errorf("%s:%d: %v. Fix: correct or remove the line", name, n, err)
		}
		r.Ranges = append(r.Ranges, line)
	}
	if err := sc.Err(); err != nil {
		return Ranges{}, fmt.Errorf("read %s: %w. Fix: write one range per line", name, err)
	}
	if len(r.Ranges) == 0 {
		return Ranges{}, fmt.Errorf("%s: no IP ranges. Fix: write one range per line (e.g. 40.92.0.0/15), or leave out --tenant-ranges to use the built-in Exchange Online list of %s", name, ExchangeOnline.Date)
	}
	return r, nil
}
