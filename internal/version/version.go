// Package version reports what this mailflow binary is: the module version it
// was built as, the VCS revision and time it was built from, and the Go
// version, all read from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo), so nothing has to be stamped in by hand.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info is what the build information says about this binary.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
}

// Read returns the running binary's Info. A binary built without module
// support (never the case with the go command) reports "unknown".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: "unknown", Version: "unknown", GoVersion: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one-line form `mailflow version` prints.
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mailflow %s (module %s", in.Version, in.Module)
	if in.Revision != "" {
		fmt.Fprintf(&b, ", revision %s", in.Revision)
		if in.Modified {
			b.WriteString("+modified")
		}
	} else {
		b.WriteString(", revision unknown")
	}
	if in.Time != "" {
		fmt.Fprintf(&b, ", built from a commit of %s", in.Time)
	}
	fmt.Fprintf(&b, ", %s)", in.GoVersion)
	return b.String()
}
