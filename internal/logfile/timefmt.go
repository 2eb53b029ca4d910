package logfile

import (
	"fmt"
	"time"
)

// TimeLayout is the date-time format of every Exchange transport log:
// UTC with milliseconds, for example 2017-04-14T17:00:41.125Z.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// AppendTime appends t in TimeLayout (converted to UTC). It is hand-rolled
// because it runs once per log line and time.AppendFormat is several times
// slower for this fixed layout.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	if year < 0 || year > 9999 {
		// Outside the four-digit range the fixed layout cannot hold the year;
		// fall back to the general formatter rather than write garbage.
		return t.AppendFormat(dst, TimeLayout)
	}
	dst = append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return dst
}

// ParseTime parses an Exchange log date-time. The fixed layout is parsed by
// hand (it is on every line a diagnostic reads); anything else falls back to
// RFC 3339 so that logs written with other precisions still read.
func ParseTime(s string) (time.Time, error) {
	if len(s) == len(TimeLayout) && s[4] == '-' && s[7] == '-' && s[10] == 'T' &&
		s[13] == ':' && s[16] == ':' && s[19] == '.' && s[23] == 'Z' {
		year, ok1 := atoiN(s[0:4])
		month, ok2 := atoiN(s[5:7])
		day, ok3 := atoiN(s[8:10])
		hour, ok4 := atoiN(s[11:13])
		minute, ok5 := atoiN(s[14:16])
		sec, ok6 := atoiN(s[17:19])
		ms, ok7 := atoiN(s[20:23])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 &&
			month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year) &&
			hour < 24 && minute < 60 && sec < 60 {
			return time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.UTC), nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse log date-time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func atoiN(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
