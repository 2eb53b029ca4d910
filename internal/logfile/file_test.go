package logfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

var t0 = time.Date(2017, 4, 14, 17, 0, 41, 125e6, time.UTC)

// newTestFile returns a File whose background flusher never fires unless
// the test sends on the returned channel.
func newTestFile(t *testing.T, dir string, clk *testkit.Clock, mutate func(*Options)) (*File, chan time.Time) {
	t.Helper()
	ticks := make(chan time.Time)
	o := Options{
		Dir:    dir,
		Prefix: "TEST",
		Header: func(created time.Time) []byte {
			return append(AppendTime([]byte("#Date: "), created), "\r\n#Fields: a,b\r\n"...)
		},
		Now:   clk.Now,
		ticks: ticks,
	}
	if mutate != nil {
		mutate(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, ticks
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNameRoundTrip(t *testing.T) {
	tests := []struct {
		prefix string
		at     time.Time
		n      int
		want   string
	}{
		{"RECV", t0, 1, "RECV2017041417-1.LOG"},
		{"SEND", time.Date(2023, 1, 11, 0, 59, 59, 0, time.UTC), 12, "SEND2023011100-12.LOG"},
		{"MSGTRK", time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC), 3, "MSGTRK1999123123-3.LOG"},
	}
	for _, tc := range tests {
		got := Name(tc.prefix, hourOf(tc.at), tc.n)
		if got != tc.want {
			t.Errorf("Name(%s, %v, %d) = %s, want %s", tc.prefix, tc.at, tc.n, got, tc.want)
		}
		hour, n, ok := ParseName(tc.prefix, got)
		if !ok || hour != hourOf(tc.at) || n != tc.n {
			t.Errorf("ParseName(%s) = %d, %d, %v", got, hour, n, ok)
		}
	}
}

func TestParseNameRejects(t *testing.T) {
	for _, name := range []string{
		"RECV2017041417-0.LOG", "RECV2017041417-x.LOG", "RECV2017041417.LOG",
		"RECV20170414-1.LOG", "RECV2017131417-1.LOG", "SEND2017041417-1.LOG",
		"RECV2017041417-1.TXT", "MSGTRKMD2017041417-1.LOG",
	} {
		prefix := "RECV"
		if strings.HasPrefix(name, "MSGTRK") {
			prefix = "MSGTRK"
		}
		if _, _, ok := ParseName(prefix, name); ok {
			t.Errorf("ParseName(%s, %s) accepted", prefix, name)
		}
	}
}

func TestWriteFlushHeaderAndContent(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, nil)
	if !f.Write(t0, []byte("1,a\r\n")) || !f.Write(t0, []byte("2,b\r\n")) {
		t.Fatal("Write refused a line")
	}
	if got := testkit.FileNames(t, dir); len(got) != 0 {
		t.Fatalf("files before flush: %v", got)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(dir, "TEST2017041417-1.LOG"))
	want := "#Date: 2017-04-14T17:00:41.125Z\r\n#Fields: a,b\r\n1,a\r\n2,b\r\n"
	if got != want {
		t.Fatalf("file content\n%q\nwant\n%q", got, want)
	}
}

func TestRotateBySize(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	header := len("#Date: 2017-04-14T17:00:41.125Z\r\n#Fields: a,b\r\n")
	line := []byte("0123456789\r\n") // 12 bytes
	f, _ := newTestFile(t, dir, clk, func(o *Options) { o.MaxFileSize = int64(header + 3*len(line)) })
	for i := 0; i < 7; i++ {
		f.Write(t0, line)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"TEST2017041417-1.LOG", "TEST2017041417-2.LOG", "TEST2017041417-3.LOG"}
	if got := testkit.FileNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	counts := []int{3, 3, 1}
	for i, name := range want {
		body := readFile(t, filepath.Join(dir, name))
		if !strings.HasPrefix(body, "#Date: ") {
			t.Errorf("%s lacks header", name)
		}
		if n := strings.Count(body, string(line)); n != counts[i] {
			t.Errorf("%s holds %d lines, want %d", name, n, counts[i])
		}
		if int64(len(body)) > f.o.MaxFileSize {
			t.Errorf("%s is %d bytes, over %d", name, len(body), f.o.MaxFileSize)
		}
	}
}

func TestOversizedLineGoesAlone(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, func(o *Options) { o.MaxFileSize = 80 })
	f.Write(t0, []byte("short\r\n"))
	big := append(bytes.Repeat([]byte("x"), 200), '\r', '\n')
	f.Write(t0, big)
	f.Write(t0, []byte("after\r\n"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	files := testkit.FileNames(t, dir)
	if len(files) != 3 {
		t.Fatalf("files %v, want 3", files)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, files[1])), string(big)) {
		t.Fatal("oversized line not written whole into its own file")
	}
}

func TestRotateByHour(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, nil)
	next := t0.Add(time.Hour)
	f.Write(t0, []byte("first\r\n"))
	f.Write(next, []byte("second\r\n"))
	// One hour back: a line that lost the race across the boundary. It is
	// filed with the newer hour.
	f.Write(t0.Add(30*time.Minute), []byte("late\r\n"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	clk.Set(next.Add(2 * time.Hour))
	f.Write(next.Add(2*time.Hour), []byte("third\r\n"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"TEST2017041417-1.LOG", "TEST2017041418-1.LOG", "TEST2017041420-1.LOG"}
	if got := testkit.FileNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if body := readFile(t, filepath.Join(dir, want[1])); !strings.Contains(body, "second\r\nlate\r\n") {
		t.Fatalf("hour-18 file %q lacks second+late", body)
	}
	if body := readFile(t, filepath.Join(dir, want[2])); !strings.Contains(body, "#Date: 2017-04-14T20:00:41.125Z") {
		t.Fatalf("#Date does not follow the clock: %q", body)
	}
}

func TestClockSteppedBackStartsEarlierFiles(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, nil)
	f.Write(t0, []byte("now\r\n"))
	f.Write(t0.Add(-5*time.Hour), []byte("stepped back\r\n"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"TEST2017041412-1.LOG", "TEST2017041417-1.LOG"}
	if got := testkit.FileNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestRestartTakesNextSequence(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	for i := 0; i < 3; i++ {
		f, _ := newTestFile(t, dir, clk, nil)
		f.Write(t0, []byte(fmt.Sprintf("run %d\r\n", i)))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"TEST2017041417-1.LOG", "TEST2017041417-2.LOG", "TEST2017041417-3.LOG"}
	if got := testkit.FileNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for i, name := range want {
		if body := readFile(t, filepath.Join(dir, name)); !strings.HasSuffix(body, fmt.Sprintf("run %d\r\n", i)) {
			t.Errorf("%s = %q", name, body)
		}
	}
}

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	now := t0
	old := []string{
		Name("TEST", hourOf(now.Add(-31*24*time.Hour)), 1),  // too old
		Name("TEST", hourOf(now.Add(-29*24*time.Hour)), 1),  // kept
		Name("OTHER", hourOf(now.Add(-40*24*time.Hour)), 1), // other prefix: not ours
		"notes.txt",
	}
	for _, name := range old {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clk := testkit.NewClock(now)
	newTestFile(t, dir, clk, nil) // retention runs at start
	got := testkit.FileNames(t, dir)
	if slices.Contains(got, old[0]) {
		t.Errorf("file older than MaxAge kept: %v", got)
	}
	for _, keep := range old[1:] {
		if !slices.Contains(got, keep) {
			t.Errorf("%s removed: %v", keep, got)
		}
	}
}

func TestRetentionByDirSize(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	// Four old files of 100 bytes; the budget allows the new file plus two.
	var old []string
	for i := 4; i >= 1; i-- {
		name := Name("TEST", hourOf(t0.Add(-time.Duration(i)*time.Hour)), 1)
		old = append(old, name)
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte("y"), 100), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := newTestFile(t, dir, clk, func(o *Options) { o.MaxDirSize = 400; o.MaxFileSize = 200 })
	f.Write(t0, bytes.Repeat([]byte("z"), 98))
	f.Write(t0, []byte("\r\n"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	got := testkit.FileNames(t, dir)
	// The new file is budgeted at its full 200 bytes, so only two of the
	// 100-byte files fit beside it; the oldest go.
	want := []string{old[2], old[3], Name("TEST", hourOf(t0), 1)}
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestDropWhenPendingFull(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, func(o *Options) { o.MaxPending = 20 })
	line := []byte("123456789\n") // 10 bytes
	results := []bool{f.Write(t0, line), f.Write(t0, line), f.Write(t0, line), f.Write(t0, line)}
	if !slices.Equal(results, []bool{true, true, false, false}) {
		t.Fatalf("Write results %v", results)
	}
	if f.Dropped() != 2 {
		t.Fatalf("Dropped = %d, want 2", f.Dropped())
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if !f.Write(t0, line) {
		t.Fatal("Write refused after flush emptied the buffer")
	}
}

func TestWriteAfterCloseIsDiscarded(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, nil)
	f.Write(t0, []byte("before\r\n"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Write(t0, []byte("after\r\n")) {
		t.Fatal("Write accepted a line after Close")
	}
	if f.Dropped() != 0 {
		t.Fatalf("writes after Close counted as dropped: %d", f.Dropped())
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	body := readFile(t, filepath.Join(dir, "TEST2017041417-1.LOG"))
	if !strings.Contains(body, "before") || strings.Contains(body, "after") {
		t.Fatalf("content %q", body)
	}
}

func TestBackgroundFlusher(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	flushed := make(chan error, 1)
	f, ticks := newTestFile(t, dir, clk, func(o *Options) {
		o.afterFlush = func(err error) { flushed <- err }
	})
	f.Write(t0, []byte("tick\r\n"))
	ticks <- t0
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if body := readFile(t, filepath.Join(dir, "TEST2017041417-1.LOG")); !strings.HasSuffix(body, "tick\r\n") {
		t.Fatalf("content after tick %q", body)
	}
}

func TestFlushErrorThenRecovers(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, nil)
	// Make the directory unusable by replacing it with a file.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.Write(t0, []byte("lost\r\n"))
	if err := f.Flush(); err == nil {
		t.Fatal("Flush into a non-directory succeeded")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f.Write(t0, []byte("kept\r\n"))
	if err := f.Flush(); err != nil {
		t.Fatalf("Flush after the directory came back: %v", err)
	}
	if body := readFile(t, filepath.Join(dir, "TEST2017041417-1.LOG")); !strings.HasSuffix(body, "kept\r\n") {
		t.Fatalf("content %q", body)
	}
}

func TestConcurrentWritersKeepLinesWhole(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	f, _ := newTestFile(t, dir, clk, func(o *Options) { o.MaxFileSize = 4096 })
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				f.Write(t0, []byte(fmt.Sprintf("w%d-%04d,payload\r\n", w, i)))
				if i%100 == 0 {
					if err := f.Flush(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range testkit.FileNames(t, dir) {
		for _, line := range strings.Split(readFile(t, filepath.Join(dir, name)), "\r\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !strings.HasSuffix(line, ",payload") || seen[line] {
				t.Fatalf("torn or duplicate line %q in %s", line, name)
			}
			seen[line] = true
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct lines, want %d", len(seen), writers*each)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{Prefix: "X"}); err == nil {
		t.Error("empty Dir accepted")
	}
	if _, err := New(Options{Dir: t.TempDir()}); err == nil {
		t.Error("empty Prefix accepted")
	}
}
