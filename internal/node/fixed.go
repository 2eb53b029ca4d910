package node

import (
	"fmt"

	"github.com/mailflowhq/mailflow/internal/config"
)

// fixedSettings are the parts of the configuration that take effect only at
// start-up: where the queue, mailboxes, logs and admin API live. A live
// change to them is saved but warned about, so nobody believes a new
// data_dir is in use when it is not.
type fixedSettings struct {
	dataDir, logDir, adminListen, adminToken string
	queue                                    string
}

func fixedOf(c *config.Config) fixedSettings {
	return fixedSettings{
		dataDir: c.DataDir(), logDir: c.LogDir(),
		adminListen: c.Admin.Listen, adminToken: c.AdminTokenFile(),
		queue: fmt.Sprint(c.Queue.RetryIntervals, c.Queue.Expiry, c.Queue.Concurrency),
	}
}

func (f fixedSettings) changes(n fixedSettings) []string {
	var out []string
	add := func(key, was, now string) {
		if was != now {
			out = append(out, fmt.Sprintf("%s changed from %q to %q: it takes effect only when mailflow serve restarts", key, was, now))
		}
	}
	add("server.data_dir", f.dataDir, n.dataDir)
	add("server.log_dir", f.logDir, n.logDir)
	add("admin.listen", f.adminListen, n.adminListen)
	add("admin.token_file", f.adminToken, n.adminToken)
	add("queue (retry_intervals, expiry, concurrency)", f.queue, n.queue)
	return out
}
