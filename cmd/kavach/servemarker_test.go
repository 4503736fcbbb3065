package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLINotesARunningServer: a CLI command that writes to the SQLite file of a running
// `kavach serve` says, once, that the server uses it; reads say nothing, and once the
// server is gone (or its marker is stale) nothing is said.
func TestCLINotesARunningServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, dir, nil)
	note := fmt.Sprintf("note: a running kavach serve (pid %d, %s) uses this database; the change reaches it within a second\n",
		s.cmd.Process.Pid, s.url)

	_, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "o", "--name", "n", "-o", "json")
	if err != nil || strings.Count(errOut, note) != 1 || strings.Count(errOut, "note:") != 1 {
		t.Fatalf("a write beside the server: want the note once, got %v %q", err, errOut)
	}
	for _, args := range [][]string{{"agent", "list"}, {"api-key", "list"}} {
		if _, errOut, err := kavachCmd(t, dir, args...); err != nil || strings.Contains(errOut, "note:") {
			t.Fatalf("%v is a read and says nothing: %v %q", args, err, errOut)
		}
	}
	// A write that fails changes nothing, so it says nothing about the change.
	if _, errOut, _ := kavachCmd(t, dir, "agent", "revoke", "agt_nope"); strings.Contains(errOut, "note:") {
		t.Fatalf("a failed write: %q", errOut)
	}
	// Another database in the same directory is not the server's.
	other := "sqlite://" + filepath.Join(dir, "other.db")
	if _, errOut, _ := kavachCmd(t, dir, "--database", other, "agent", "create", "--owner", "o", "--name", "n"); strings.Contains(errOut, "note:") {
		t.Fatalf("a write to another file: %q", errOut)
	}

	s.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "kavach.db.serve")); !os.IsNotExist(err) {
		t.Fatalf("serve left its marker behind: %v", err)
	}
	if _, errOut, _ := kavachCmd(t, dir, "agent", "create", "--owner", "o", "--name", "n"); strings.Contains(errOut, "note:") {
		t.Fatalf("no server runs: %q", errOut)
	}
	// A marker nobody holds (a server killed without cleaning up) is stale, even when its pid
	// is a live process.
	writeFile(t, filepath.Join(dir, "kavach.db.serve"), fmt.Sprintf(`{"pid":%d,"url":"http://127.0.0.1:1"}`, os.Getpid()))
	if _, errOut, _ := kavachCmd(t, dir, "agent", "create", "--owner", "o", "--name", "n"); strings.Contains(errOut, "note:") {
		t.Fatalf("a stale marker: %q", errOut)
	}
}
