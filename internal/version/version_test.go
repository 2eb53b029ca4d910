package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mailflowhq/mailflow", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-02T10:00:00Z"}}}
	in := fromBuildInfo(bi)
	if in.Version != "v1.2.3" || in.Revision != "abc123" || !in.Modified || in.GoVersion != "go1.26.8" {
		t.Fatalf("fromBuildInfo = %+v", in)
	}
	s := in.String()
	for _, want := range []string{"v1.2.3", "github.com/mailflowhq/mailflow", "abc123+modified", "go1.26.8", "2026-12-02T10:00:00Z"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
	if got := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8"}).String(); !strings.Contains(got, "(devel)") || !strings.Contains(got, "revision unknown") {
		t.Errorf("empty build info: %q", got)
	}
}

func TestReadInTestBinary(t *testing.T) {
	in := Read()
	if in.GoVersion == "" || !strings.HasPrefix(in.GoVersion, "go") {
		t.Fatalf("Read().GoVersion = %q", in.GoVersion)
	}
}
